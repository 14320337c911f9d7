"""`sentinel graph`: each expectation's step graph as Mermaid or Graphviz DOT, for review in a PR.

Windows label the edges, owners the nodes, compensations are dashed. Purely computational.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sentinel.core.durations import format_duration
from sentinel.core.rules.expectations import Expectation


def to_mermaid(expectations: Sequence[Expectation]) -> str:
    """One `flowchart LR` per expectation, in a Markdown-ready fenced block each."""
    blocks = []
    for exp in expectations:
        lines = ["```mermaid", f"%% {exp.name}", "flowchart LR"]
        start = _node_id(exp.name, "opened")
        lines.append(f'    {start}(["{exp.name} opens"])')
        for step in exp.steps:
            lines.append(f'    {_node_id(exp.name, step.event)}["{_label(exp, step.event)}"]')
        for step in exp.steps:
            window = f"|within {format_duration(step.within)}|" if step.within else ""
            sources = step.after or ("opened",)
            for source in sources:
                target = _node_id(exp.name, step.event)
                lines.append(f"    {_node_id(exp.name, source)} -->{window} {target}")
        for comp in exp.compensation:
            trigger, expect = _node_id(exp.name, comp.trigger), _node_id(exp.name, comp.expect)
            lines.append(f'    {trigger}{{{{"{comp.trigger}"}}}}')
            lines.append(f'    {expect}["{comp.expect}"]')
            window = f"|within {format_duration(comp.within)}|" if comp.within else ""
            lines.append(f"    {start} -.-> {trigger}")
            lines.append(f"    {trigger} -.->{window} {expect}")
        if exp.deadline:
            lines.append(f"    %% whole rollout within {format_duration(exp.deadline)}")
        lines.append("```")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def to_dot(expectations: Sequence[Expectation]) -> str:
    """One digraph with a cluster per expectation."""
    lines = ["digraph expectations {", "  rankdir=LR;", "  node [shape=box];"]
    for exp in expectations:
        lines.append(f'  subgraph "cluster_{exp.name}" {{')
        title = exp.name + (f" (deadline {format_duration(exp.deadline)})" if exp.deadline else "")
        lines.append(f'    label="{title}";')
        start = _node_id(exp.name, "opened")
        lines.append(f'    {start} [label="opens", shape=oval];')
        for step in exp.steps:
            label = _label(exp, step.event).replace("<br/>", "\\n")
            lines.append(f'    {_node_id(exp.name, step.event)} [label="{label}"];')
        for step in exp.steps:
            window = f' [label="within {format_duration(step.within)}"]' if step.within else ""
            for source in step.after or ("opened",):
                lines.append(
                    f"    {_node_id(exp.name, source)} -> {_node_id(exp.name, step.event)}{window};"
                )
        for comp in exp.compensation:
            trigger, expect = _node_id(exp.name, comp.trigger), _node_id(exp.name, comp.expect)
            lines.append(f'    {trigger} [label="{comp.trigger}", shape=hexagon, style=dashed];')
            lines.append(f'    {expect} [label="{comp.expect}", style=dashed];')
            window = f', label="within {format_duration(comp.within)}"' if comp.within else ""
            lines.append(f"    {start} -> {trigger} [style=dashed];")
            lines.append(f"    {trigger} -> {expect} [style=dashed{window}];")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _label(exp: Expectation, step: str) -> str:
    owner = exp.owner_of(step)
    return f"{step}<br/>owner: {owner}" if owner else step


def _node_id(expectation: str, step: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{expectation}__{step}")
