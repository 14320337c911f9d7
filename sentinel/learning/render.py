"""Proposed expectations as YAML that `sentinel check` accepts, the evidence in comments.

Written by hand rather than by a YAML dumper: a dumper cannot put a comment beside a value,
and the comments (how many rollouts support each edge, the observed waits) are what lets a
team judge the proposal. Names are quoted whenever YAML 1.1 could read them as something
other than a string. Purely computational.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Sequence

from sentinel.core.durations import format_duration
from sentinel.learning.delays import HEADROOM, Delays
from sentinel.learning.model import LearnedCompensation, LearnedExpectation, LearnedStep

OWNER_PLACEHOLDER = "REPLACE-ME"
_WIDTH = 92
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*")
# YAML 1.1 reads these bare words as booleans or null.
_RESERVED = frozenset(["y", "n", "yes", "no", "on", "off", "true", "false", "null"])


def render_all(expectations: Sequence[LearnedExpectation]) -> str:
    """Every expectation as one YAML stream (documents separated by `---`)."""
    return "---\n".join(render(expectation) for expectation in expectations)


def render(exp: LearnedExpectation) -> str:
    """One expectation as one YAML document, with its evidence in comments."""
    ended = f"{exp.completed} completed, {exp.rolled_back} rolled back, {len(exp.open)} still open"
    header = (
        f"Proposed by `sentinel learn` from {_count(exp.rollouts, 'rollout')} correlated on"
        f" {exp.correlate} ({ended} at the end of the log). The comments say what the bus did,"
        " not what the teams intend: review the graph and the windows, and set the owner."
        f" Each window is above the 99th percentile of the waits seen (x{HEADROOM}), rounded"
        f" up; each prerequisite came first in at least {exp.min_support:.0%} of the rollouts"
        " that have both steps. Step counts leave out rolled-back rollouts."
    )
    lines = [
        f"# {line}" for line in textwrap.wrap(header, width=_WIDTH - 2, break_on_hyphens=False)
    ]
    lines += [
        "apiVersion: sentinel/v1",
        "kind: Expectation",
        "metadata:",
        f"  name: {exp.name}",
        f"  owner: {OWNER_PLACEHOLDER}  # placeholder: the team to alert; set it before use",
        f"  description: Learned from {_count(exp.rollouts, 'rollout')} on the bus",
        "spec:",
        f"  correlate: {_scalar(exp.correlate)}",
    ]
    if exp.deadline is not None and exp.durations is not None:
        lines.append(
            f"  deadline: {format_duration(exp.deadline)}  # completed in {_figures(exp.durations)}"
        )
    lines.append("  steps:")
    for step in exp.steps:
        lines.extend(_step(step))
    if exp.compensations:
        lines.append("  compensation:")
        for comp in exp.compensations:
            lines.extend(_compensation(comp))
    return "\n".join(lines) + "\n"


def _step(step: LearnedStep) -> list[str]:
    opened = not step.after and step.within is None and step.waits is not None
    note = "; it opened every one of them" if opened else ""
    lines = [f"    - event: {_scalar(step.event)}  # in {step.seen} of {step.of} rollouts{note}"]
    if step.after:
        lines.append("      after:")
        for edge in step.after:
            lines.append(
                f"        - {_scalar(edge.prerequisite)}  # came first in {edge.before} of"
                f" {edge.both} rollouts that have both ({edge.before / edge.both:.0%})"
            )
    if step.within is not None and step.waits is not None:
        since = "waited" if step.after else "from the opening:"
        lines.append(
            f"      within: {format_duration(step.within)}  # {since} {_figures(step.waits)}"
        )
    return lines


def _compensation(comp: LearnedCompensation) -> list[str]:
    lines = [
        f"    - trigger: {_scalar(comp.trigger)}  # in {_count(comp.rollouts, 'rollout')}",
        f"      expect: {_scalar(comp.expect)}  # followed in {comp.followed} of {comp.rollouts}",
    ]
    if comp.within is not None and comp.waits is not None:
        lines.append(
            f"      within: {format_duration(comp.within)}  # waited {_figures(comp.waits)}"
        )
    return lines


def _figures(delays: Delays) -> str:
    return f"{delays.describe()} ({_count(delays.count, 'rollout')})"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _scalar(text: str) -> str:
    """`text` as a YAML string: bare when YAML reads it back as that string, else quoted."""
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    # A JSON string is a YAML double-quoted scalar with the same escapes.
    return json.dumps(text, ensure_ascii=False)
