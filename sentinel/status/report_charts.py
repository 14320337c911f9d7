"""The report's two charts as inline SVG (a self-contained file may load nothing): how long
an expectation's completed rollouts took, and which steps stall. Purely computational."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from sentinel.status.board_words import short_duration

WIDTH = 640
BAR_H, BAR_GAP, LABEL_W = 18, 6, 300
MAX_LABEL = 52  # characters of a bar's label at 9px; the whole label is in its <title>
MIN_BINS, MAX_BINS = 6, 12


def duration_histogram(figures: Mapping[str, Any]) -> str:
    """Completed rollouts per duration bin, with the p50 and p95 marked."""
    durations: Sequence[float] = figures["durations_s"]
    if not durations:
        return '<p class="none">No completed rollout in the period.</p>'
    top = max(durations) or 1.0
    # Enough bins to show a shape, few enough that each holds something.
    bins = min(MAX_BINS, max(MIN_BINS, math.ceil(math.sqrt(len(durations)))))
    size = top / bins
    counts = [0] * bins
    for value in durations:
        counts[min(bins - 1, int(value / size))] += 1
    plot_h, left, bottom = 110, 36, 150
    step = (WIDTH - left - 10) / bins
    most = max(counts)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="180"'
        f' viewBox="0 0 {WIDTH} 180" role="img" aria-label="{_esc(_summary_label(figures))}">',
        f'<line x1="{left}" y1="{bottom}" x2="{WIDTH - 10}" y2="{bottom}" class="axis"/>',
        f'<text x="{left - 6}" y="{bottom - plot_h + 4}" class="tick end">{most}</text>',
        f'<text x="{left - 6}" y="{bottom + 4}" class="tick end">0</text>',
    ]
    for index, count in enumerate(counts):
        height = plot_h * count / most
        x = left + index * step
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{bottom - height:.1f}" width="{step - 4:.1f}"'
            f' height="{height:.1f}" class="bar"><title>{count} rollout(s) between'
            f" {short_duration(index * size)} and {short_duration((index + 1) * size)}"
            "</title></rect>"
        )
    for index in range(0, bins + 1, max(1, bins // 4)):
        x = left + index * step
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 16}" class="tick">'
            f"{short_duration(index * size)}</text>"
        )
    markers = (("p50", figures["duration_p50_s"]), ("p95", figures["duration_p95_s"]))
    for row, (name, value) in enumerate(markers):
        x = left + (WIDTH - left - 10) * value / top
        # Near the right edge the label goes to the left of its line; p95 sits below p50.
        anchor, dx = ("end", -3) if x > WIDTH - 90 else ("start", 3)
        parts.append(
            f'<line x1="{x:.1f}" y1="{bottom - plot_h - 14}" x2="{x:.1f}" y2="{bottom}"'
            f' class="marker {name}"/><text x="{x + dx:.1f}" y="{bottom - plot_h - 16 + row * 11}"'
            f' class="marker-label {anchor}">{name} {short_duration(value)}</text>'
        )
    parts.append(
        f'<text x="{WIDTH / 2:.0f}" y="176" class="tick">duration, opening to last step</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def stalls_by_step(expectations: Sequence[Mapping[str, Any]]) -> str:
    """One bar per step that stalled at least once, longest first, labelled with its owner."""
    rows = [
        (figures["expectation"], entry)
        for figures in expectations
        for entry in figures["stalls_by_step"]
    ]
    if not rows:
        return '<p class="none">No step stalled in the period.</p>'
    rows.sort(key=lambda row: -row[1]["stalls"])
    several = len({expectation for expectation, _ in rows}) > 1
    most = max(entry["stalls"] for _, entry in rows)
    height = len(rows) * (BAR_H + BAR_GAP) + 10
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}"'
        f' height="{height}" viewBox="0 0 {WIDTH} {height}" role="img"'
        ' aria-label="Stalls per step">'
    ]
    for index, (expectation, entry) in enumerate(rows):
        y = 5 + index * (BAR_H + BAR_GAP)
        width = (WIDTH - LABEL_W - 40) * entry["stalls"] / most
        owner = f" ({entry['owner']})" if entry["owner"] else ""
        label = f"{expectation} / {entry['step']}{owner}"
        shown = f"{expectation} / " if several else ""
        shown += f"{entry['step']}{owner}"
        shown = shown if len(shown) <= MAX_LABEL else shown[: MAX_LABEL - 1] + "…"
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y + 13}" class="tick end">{_esc(shown)}'
            f"<title>{_esc(label)}</title></text>"
            f'<rect x="{LABEL_W}" y="{y}" width="{width:.1f}" height="{BAR_H}" class="bar stall"/>'
            f'<text x="{LABEL_W + width + 5:.1f}" y="{y + 13}" class="tick start">'
            f"{entry['stalls']}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _summary_label(figures: Mapping[str, Any]) -> str:
    return (
        f"Durations of {len(figures['durations_s'])} completed rollout(s) of "
        f"{figures['expectation']}: p50 {short_duration(figures['duration_p50_s'])}, "
        f"p95 {short_duration(figures['duration_p95_s'])}"
    )


def _esc(text: str) -> str:
    return escape(text, quote=True)
