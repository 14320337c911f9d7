"""A rollout's step graph as inline SVG: prerequisites to the left, each node with its state as
a word and a symbol, compensations dashed underneath. Drawn here (a layered layout is a few
lines) so the page needs no diagram library. Purely computational."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sentinel.core.durations import format_duration
from sentinel.core.rules.expectations import Expectation
from sentinel.status.board_words import node_status
from sentinel.status.markup import esc

NODE_W, NODE_H = 240, 58
GAP_X, GAP_Y, MARGIN = 64, 22, 12
MAX_NAME = 30  # characters that fit in a node; the whole name is in its <title>


def step_graph_svg(
    steps: Sequence[Mapping[str, Any]],
    compensation: Mapping[str, Any] | None,
    expectation: Expectation | None,
    clock: float,
) -> str:
    """`steps` and `compensation` are the API's step objects (graph order); `expectation` adds
    the windows on the edges and the compensations, and may be None (it was removed since)."""
    layer = _layers(steps)
    rows: dict[int, int] = {}
    where: dict[str, tuple[int, int]] = {}
    for step in steps:
        column = layer[step["step"]]
        where[step["step"]] = (column, rows.get(column, 0))
        rows[column] = rows.get(column, 0) + 1
    depth = max(rows.values(), default=1)
    edges, nodes = [], []
    for step in steps:
        for prereq in step["after"]:
            if prereq in where:
                within = _within(expectation, step["step"])
                edges.append(_edge(where[prereq], where[step["step"]], within, dashed=False))
        nodes.append(_node(where[step["step"]], step, clock))
    comp_rows = 0
    if expectation is not None:
        for index, comp in enumerate(expectation.compensation):
            row = depth + index
            active = compensation is not None and compensation["after"] == [comp.trigger]
            trigger = {"step": comp.trigger, "state": "seen" if active else "", "owner": None}
            expect = compensation if active and compensation else {"step": comp.expect, "state": ""}
            nodes.append(_node((0, row), trigger, clock, dashed=True))
            nodes.append(_node((1, row), expect, clock, dashed=True))
            within = format_duration(comp.within) if comp.within else None
            edges.append(_edge((0, row), (1, row), within, dashed=True))
            comp_rows += 1
    columns = max(layer.values(), default=0) + 1
    width = MARGIN * 2 + columns * NODE_W + (columns - 1) * GAP_X
    height = MARGIN * 2 + (depth + comp_rows) * (NODE_H + GAP_Y) - GAP_Y
    return (
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{width}"'
        f' height="{height}" viewBox="0 0 {width} {height}" role="img"'
        ' aria-labelledby="graph-title">'
        '<title id="graph-title">Step graph: prerequisites on the left</title>'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7"'
        ' markerHeight="7" orient="auto-start-reverse"><path d="M0 0 10 5 0 10z"'
        ' class="arrowhead"/></marker></defs>'
        f"{''.join(edges)}{''.join(nodes)}</svg>"
    )


def _layers(steps: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Each step's column: one more than its deepest prerequisite (steps come in graph order)."""
    layer: dict[str, int] = {}
    for step in steps:
        known = [layer[prereq] for prereq in step["after"] if prereq in layer]
        layer[step["step"]] = max(known, default=-1) + 1
    return layer


def _within(expectation: Expectation | None, step: str) -> str | None:
    found = expectation.step_index.get(step) if expectation is not None else None
    return format_duration(found.within) if found is not None and found.within else None


def _origin(cell: tuple[int, int]) -> tuple[int, int]:
    column, row = cell
    return MARGIN + column * (NODE_W + GAP_X), MARGIN + row * (NODE_H + GAP_Y)


def _node(
    cell: tuple[int, int], step: Mapping[str, Any], clock: float, dashed: bool = False
) -> str:
    x, y = _origin(cell)
    name = step["step"]
    shown = name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"
    state = step["state"]
    status = node_status(step, clock) if state else "compensation"
    owner = f" · {step['owner']}" if step.get("owner") else ""
    classes = f"node state-{state or 'none'}{' dashed' if dashed else ''}"
    return (
        f'<g class="{esc(classes)}" data-step="{esc(name)}">'
        f"<title>{esc(name)}{esc(owner)}</title>"
        f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="8"/>'
        f'<text x="{x + 10}" y="{y + 23}" class="node-name">{esc(shown)}</text>'
        f'<text x="{x + 10}" y="{y + 44}" class="node-state">{esc(status)}</text></g>'
    )


def _edge(
    source: tuple[int, int], target: tuple[int, int], within: str | None, dashed: bool
) -> str:
    sx, sy = _origin(source)
    tx, ty = _origin(target)
    x1, y1 = sx + NODE_W, sy + NODE_H // 2
    x2, y2 = tx - 2, ty + NODE_H // 2
    bend = (x2 - x1) // 2
    path = f"M{x1} {y1} C{x1 + bend} {y1} {x2 - bend} {y2} {x2} {y2}"
    label = ""
    if within:
        label = (
            f'<text x="{(x1 + x2) // 2}" y="{(y1 + y2) // 2 - 6}" class="edge-label">'
            f"{esc(within)}</text>"
        )
    kind = "edge dashed" if dashed else "edge"
    return f'<g class="{kind}"><path d="{path}" marker-end="url(#arrow)"/>{label}</g>'
