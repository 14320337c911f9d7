"""The audit report as one self-contained HTML file: inline style and SVG, no script, nothing
loaded from anywhere, laid out to print on A4. Bus data is escaped text."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from sentinel.status.action_words import action_line
from sentinel.status.board_words import (
    PHASES,
    describe_finding,
    is_good,
    kind_label,
    most_stalled,
    short_duration,
)
from sentinel.status.report_charts import duration_histogram, stalls_by_step

_STYLE = """
@page { size: A4; margin: 14mm 12mm; }
* { box-sizing: border-box; }
body { font: 10.5pt/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1f2328; margin: 0 auto; max-width: 190mm; padding: 8mm 0; }
h1 { font-size: 18pt; margin: 0 0 2mm; }
h2 { font-size: 13pt; margin: 7mm 0 2mm; border-bottom: 1px solid #d1d9e0; padding-bottom: 1mm; }
h3 { font-size: 11pt; margin: 0 0 1mm; overflow-wrap: anywhere; }
.lead { color: #59636e; margin: 0 0 4mm; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 3mm; }
th, td { text-align: left; padding: 1.2mm 1.6mm; border-bottom: 1px solid #d1d9e0;
  vertical-align: top; overflow-wrap: break-word; }
td code { overflow-wrap: anywhere; }
thead th { background: #f6f8fa; font-size: 8.5pt; }
table.figures { font-size: 9.5pt; }
table.figures td.n, table.figures th.n { white-space: nowrap; }
thead { display: table-header-group; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
code { font: 9pt ui-monospace, SFMono-Regular, Menlo, monospace; }
.rollout { border: 1px solid #d1d9e0; border-radius: 2mm; padding: 3mm; margin: 0 0 3mm;
  break-inside: avoid; page-break-inside: avoid; }
.meta { color: #59636e; font-size: 9pt; margin: 0 0 2mm; }
.tag { display: inline-block; border: 1px solid currentColor; border-radius: 3mm;
  padding: 0 2mm; font-size: 8.5pt; font-weight: 600; }
.good { color: #1a7f37; } .problem { color: #b4141d; } .back { color: #8a4600; }
.open { color: #0550ae; }
ul.findings { margin: 1mm 0 0; padding-left: 5mm; }
.chart { max-width: 100%; height: auto; display: block; margin: 1mm 0 4mm; }
.chart .axis { stroke: #8c959f; }
.chart .bar { fill: #54aeff; } .chart .bar.stall { fill: #ff8182; }
.chart .tick { font: 9px system-ui, sans-serif; fill: #59636e; text-anchor: middle; }
.chart .tick.end { text-anchor: end; } .chart .tick.start { text-anchor: start; }
.chart .marker { stroke: #1f2328; stroke-dasharray: 3 2; }
.chart .marker-label { font: 9px system-ui, sans-serif; fill: #1f2328; }
.chart .marker-label.end { text-anchor: end; }
.figure { break-inside: avoid; page-break-inside: avoid; }
.none { color: #59636e; }
@media print { body { padding: 0; } a { color: inherit; text-decoration: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
"""


def render(report: Mapping[str, Any]) -> str:
    """The whole document."""
    period = report["period"]
    span = f"{period['from'] or 'the beginning'} to {period['to'] or 'the end'}"
    source = f" · from {report['source']}" if report["source"] else ""
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Rollout audit report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Rollout audit report</h1>",
        f'<p class="lead">Rollouts opened from {_e(span)}{_e(source)}:'
        f" {len(report['rollouts'])} rollout(s).</p>",
        "<h2>By expectation</h2>",
        _figures_table(report["expectations"]),
        *_charts(report["expectations"]),
        "<h2>Every rollout</h2>",
        *[_rollout(entry) for entry in report["rollouts"]],
        "</body></html>",
    ]
    if not report["rollouts"]:
        parts.insert(-1, '<p class="none">No rollout opened in this period.</p>')
    return "\n".join(parts) + "\n"


def _figures_table(expectations: list[Mapping[str, Any]]) -> str:
    head = (
        "<thead><tr><th>Expectation</th><th class=n>Rollouts</th><th class=n>Completed</th>"
        "<th class=n>Rolled back</th><th class=n>Stalled</th><th class=n>Open</th>"
        "<th class=n>p50</th><th class=n>p95</th><th>Stalls most (whose)</th></tr></thead>"
    )
    rows = []
    for figures in expectations:
        stalls = _e(most_stalled(figures))
        rows.append(
            f"<tr><td>{_e(figures['expectation'])}</td><td class=n>{figures['rollouts']}</td>"
            f"<td class=n>{figures['completed']}</td><td class=n>{figures['rolled_back']}</td>"
            f"<td class=n>{figures['stalled']}</td><td class=n>{figures['open']}</td>"
            f"<td class=n>{_duration(figures['duration_p50_s'])}</td>"
            f"<td class=n>{_duration(figures['duration_p95_s'])}</td><td>{stalls}</td></tr>"
        )
    return f'<table class="figures">{head}<tbody>{"".join(rows)}</tbody></table>'


def _charts(expectations: list[Mapping[str, Any]]) -> list[str]:
    parts = ["<h2>Durations of completed rollouts</h2>"]
    for figures in expectations:
        parts.append(
            f'<div class="figure"><h3>{_e(figures["expectation"])}</h3>'
            f"{duration_histogram(figures)}</div>"
        )
    parts.append("<h2>Stalls per step</h2>")
    parts.append(f'<div class="figure">{stalls_by_step(expectations)}</div>')
    return parts


def _rollout(entry: Mapping[str, Any]) -> str:
    symbol, word = PHASES.get(entry["phase"], ("•", entry["phase"]))
    tones = {"completed": "good", "rolled_back": "back", "abandoned": "back"}
    tone = tones.get(entry["phase"], "open")
    took = f" · took {short_duration(entry['duration_s'])}" if entry["duration_s"] else ""
    closed = f" · closed {entry['closed_at']}" if entry["closed_at"] else ""
    sequence = "".join(
        f"<tr><td><code>{_e(step['at'])}</code></td><td>{_e(step['step'])}</td>"
        f"<td><code>{_e(step['event_id'] or '-')}</code></td><td>{_e(step['source'] or '-')}</td>"
        "</tr>"
        for step in entry["sequence"]
    )
    findings = "".join(_finding(finding) for finding in entry["findings"])
    acted = "".join(
        f"<li><code>{_e(action['at'])}</code> {_e(action_line(action))}</li>"
        for action in entry.get("actions") or ()
    )
    return (
        '<section class="rollout">'
        f"<h3>{_e(entry['expectation'])} / <code>{_e(entry['rollout'])}</code>"
        f' <span class="tag {tone}">{_e(symbol)} {_e(word)}</span></h3>'
        f'<p class="meta">opened {_e(entry["opened_at"])}{_e(closed)}{_e(took)}'
        f"{_e(' · owner ' + entry['owner'] if entry['owner'] else '')}</p>"
        "<table><thead><tr><th>Seen at</th><th>Step</th><th>Event id</th><th>Source</th>"
        f"</tr></thead><tbody>{sequence}</tbody></table>"
        + (f'<ul class="findings">{findings}</ul>' if findings else "")
        + (f'<h4>On-call actions</h4><ul class="actions">{acted}</ul>' if acted else "")
        + "</section>"
    )


def _finding(finding: Mapping[str, Any]) -> str:
    symbol, word = kind_label(finding["kind"])
    tone = "good" if is_good(finding["kind"]) else "problem"
    owner = f" (owner {finding['owner']})" if finding.get("owner") else ""
    return (
        f'<li><code>{_e(finding["at"])}</code> <span class="tag {tone}">{_e(symbol)}'
        f" {_e(word)}</span> {_e(describe_finding(finding))}{_e(owner)}</li>"
    )


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else _e(short_duration(seconds))


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)
