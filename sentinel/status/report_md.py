"""The audit report as Markdown, for a ticket or a wiki. Bus data is escaped so it stays text:
no table cell ends early, no link or HTML appears that the log did not mean."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sentinel.status.action_words import action_line
from sentinel.status.board_words import (
    PHASES,
    describe_finding,
    kind_label,
    most_stalled,
    short_duration,
)

# Characters that make emphasis, code, links, images, headings, entities, raw HTML or a new
# table cell anywhere in a line; list markers only matter at a line's start, where bus data
# never stands.
_SPECIAL = re.compile(r"([\\`*_{}\[\]#!|<>~&])")


def render(report: Mapping[str, Any]) -> str:
    """The whole document."""
    period = report["period"]
    span = f"{period['from'] or 'the beginning'} to {period['to'] or 'the end'}"
    source = f" · from {report['source']}" if report["source"] else ""
    lines = [
        "# Rollout audit report",
        "",
        md(f"Rollouts opened from {span}{source}: {len(report['rollouts'])} rollout(s)."),
        "",
        "## By expectation",
        "",
        "| Expectation | Rollouts | Completed | Rolled back | Stalled | Open | p50 | p95 "
        "| Stalls most (whose) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for figures in report["expectations"]:
        stalls = md(most_stalled(figures))
        lines.append(
            f"| {md(figures['expectation'])} | {figures['rollouts']} | {figures['completed']} "
            f"| {figures['rolled_back']} | {figures['stalled']} | {figures['open']} "
            f"| {_duration(figures['duration_p50_s'])} | {_duration(figures['duration_p95_s'])} "
            f"| {stalls} |"
        )
    lines += ["", "## Every rollout", ""]
    if not report["rollouts"]:
        lines += ["No rollout opened in this period.", ""]
    for entry in report["rollouts"]:
        lines += _rollout(entry)
    return "\n".join(lines).rstrip("\n") + "\n"


def md(value: object) -> str:
    """Text that Markdown shows as it is, on one line."""
    text = " ".join(("" if value is None else str(value)).split())
    return _SPECIAL.sub(r"\\\1", text)


def _rollout(entry: Mapping[str, Any]) -> list[str]:
    symbol, word = PHASES.get(entry["phase"], ("•", entry["phase"]))
    facts = [f"opened {entry['opened_at']}"]
    if entry["closed_at"]:
        facts.append(f"closed {entry['closed_at']}")
    if entry["duration_s"]:
        facts.append(f"took {short_duration(entry['duration_s'])}")
    if entry["owner"]:
        facts.append(f"owner {entry['owner']}")
    lines = [
        f"### {md(entry['expectation'])} / {md(entry['rollout'])} · {symbol} {word}",
        "",
        md(" · ".join(facts)),
        "",
        "| Seen at | Step | Event id | Source |",
        "|---|---|---|---|",
    ]
    for step in entry["sequence"]:
        lines.append(
            f"| {md(step['at'])} | {md(step['step'])} | {md(step['event_id'] or '-')} "
            f"| {md(step['source'] or '-')} |"
        )
    if entry["findings"]:
        lines.append("")
    for finding in entry["findings"]:
        symbol, word = kind_label(finding["kind"])
        owner = f" (owner {finding['owner']})" if finding.get("owner") else ""
        lines.append(
            f"- {md(finding['at'])} {symbol} **{md(word)}**: "
            f"{md(describe_finding(finding) + owner)}"
        )
    if entry.get("actions"):
        lines += ["", "On-call actions:", ""]
    for action in entry.get("actions") or ():
        lines.append(f"- {md(action['at'])} {md(action_line(action))}")
    lines.append("")
    return lines


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else short_duration(seconds)
