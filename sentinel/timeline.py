"""The text timeline of `sentinel replay --format text`: what was seen when, what is overdue,
what is missing, one block per rollout, for a person reading a terminal; and `printable`, which
every line for a terminal goes through, because rollout keys and event types come from the bus.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sentinel.durations import format_duration
from sentinel.findings import ROLLOUT_KINDS, Finding, Kind
from sentinel.timefmt import format_rfc3339
from sentinel.views import Phase, RolloutView, StepStatus

# What a terminal would obey instead of showing (issue 22): C0 controls (ESC starts colour,
# cursor and screen-clearing sequences, OSC 8 links; CR and LF fake lines), DEL, C1 controls,
# the Unicode line and paragraph separators, and the bidirectional marks and overrides that
# reorder what is shown ("Trojan Source").
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with each of those characters shown as its escape, as Python writes it
    (`\\x1b`, `\\n`, `\\u202e`): inert in a terminal, and still telling what the bus sent."""
    if _UNPRINTABLE.search(text) is None:
        return text
    return _UNPRINTABLE.sub(_escape, text)


def _escape(found: re.Match[str]) -> str:
    character = found.group()
    code = ord(character)
    named = _NAMED.get(character)
    if named is not None:
        return named
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


_PHASE_LABEL = {
    Phase.OPEN: "OPEN",
    Phase.ROLLING_BACK: "ROLLING BACK",
    Phase.COMPLETED: "COMPLETED",
    Phase.ROLLED_BACK: "ROLLED BACK",
}


@dataclass
class Timeline:
    """Collects findings as they come, then renders them against the final rollout views."""

    rollout_findings: dict[tuple[str, str], list[Finding]] = field(default_factory=dict)
    event_findings: list[Finding] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        if finding.kind in ROLLOUT_KINDS and finding.expectation and finding.rollout:
            key = (finding.expectation, finding.rollout)
            self.rollout_findings.setdefault(key, []).append(finding)
        else:
            self.event_findings.append(finding)

    def render(
        self,
        views: Iterable[RolloutView],
        clock: float,
    ) -> str:
        """The whole report: `views` are every rollout's final state, `clock` the replay's end."""
        blocks = [
            _rollout_block(
                view, self.rollout_findings.get((view.expectation, view.rollout), []), clock
            )
            for view in sorted(
                views, key=lambda view: (view.opened_at, view.expectation, view.rollout)
            )
        ]
        if self.event_findings:
            lines = ["Events that advanced nothing or could not be read"]
            lines += [f"  {_event_line(finding)}" for finding in self.event_findings]
            blocks.append(_lines(lines))
        blocks.append(self._summary())
        return "\n\n".join(blocks) + "\n"

    def _summary(self) -> str:
        problems = sum(
            finding.is_problem
            for findings in self.rollout_findings.values()
            for finding in findings
        ) + sum(finding.is_problem for finding in self.event_findings)
        return f"{problems} problem finding(s)"


def _rollout_block(view: RolloutView, findings: list[Finding], clock: float) -> str:
    header = (
        f"{view.expectation} / {view.rollout}  {_PHASE_LABEL[view.phase]}"
        f"  (opened {format_rfc3339(view.opened_at)}"
        + (f", owner {view.owner})" if view.owner else ")")
    )
    entries: list[tuple[float, int, str]] = []
    steps = list(view.steps) + ([view.compensation] if view.compensation else [])
    for step in steps:
        if step.seen_at is not None:
            entries.append((step.seen_at, 0, f"seen     {step.step}{_wait(step)}"))
    for finding in findings:
        # At equal times a stall reads before the late arrival that recovers it.
        rank = -1 if finding.kind is Kind.STALL else 1
        entries.append((finding.at, rank, _finding_line(finding)))
    lines = [header]
    lines += [f"  {_clock(at)}  {text}" for at, _, text in sorted(entries, key=_by_time)]
    if view.phase in (Phase.OPEN, Phase.ROLLING_BACK):
        lines += [f"  {text}" for text in _outstanding(steps, view, clock)]
    return _lines(lines)


def _lines(lines: list[str]) -> str:
    """One line each, whatever a line holds: a newline from the bus is shown, not obeyed."""
    return "\n".join(printable(line) for line in lines)


def _outstanding(steps: Iterable[StepStatus], view: RolloutView, clock: float) -> list[str]:
    lines = []
    for step in steps:
        if step.seen_at is not None:
            continue
        if view.phase is Phase.ROLLING_BACK and step is not view.compensation:
            continue
        who = f" (owner {step.owner})" if step.owner else ""
        if step.due_at is not None and step.due_at < clock:
            overdue = format_duration(clock - step.due_at)
            lines.append(
                f"MISSING  {step.step}: due {_clock(step.due_at)}, overdue by {overdue}{who}"
            )
        elif step.due_at is not None:
            lines.append(f"waiting  {step.step}: due {_clock(step.due_at)}{who}")
        else:
            waiting_for = ", ".join(step.after) or "its first event"
            lines.append(f"waiting  {step.step}: after {waiting_for}{who}")
    return lines


def _finding_line(finding: Finding) -> str:
    kind = finding.kind
    if kind is Kind.STALL:
        return f"STALL    {finding.step}: due {_clock(finding.deadline)}, nothing seen"
    if kind is Kind.RECOVERED:
        return f"recovered {finding.step} arrived after its stall"
    if kind is Kind.OUT_OF_ORDER:
        missing = ", ".join(finding.missing or ())
        return f"OUT OF ORDER {finding.step} before {missing}"
    if kind is Kind.DEADLINE_EXCEEDED:
        return f"DEADLINE {format_rfc3339(finding.deadline or 0)} passed, rollout not complete"
    if kind is Kind.ROLLBACK:
        return f"ROLLBACK {finding.event_type} started a rollback"
    if kind is Kind.COMPLETED:
        return f"completed in {format_duration(finding.duration_s or 0)}"
    return f"rolled back in {format_duration(finding.duration_s or 0)}"


def _event_line(finding: Finding) -> str:
    where = f" ({finding.event_source})" if finding.event_source else ""
    ident = f" id={finding.event_id}" if finding.event_id else ""
    if finding.kind is Kind.SCHEMA_VIOLATION:
        detail = "; ".join(finding.errors or ())
        against = f" (against the {finding.against} schema)" if finding.against else ""
        return (
            f"{_clock(finding.at)}  SCHEMA   {finding.event_type}{ident}{where}{against}: {detail}"
        )
    if finding.kind is Kind.SCHEMA_CHANGED:
        named = f", {finding.subject} version {finding.version}" if finding.subject else ""
        return (
            f"{_clock(finding.at)}  SCHEMA CHANGED {finding.event_type}{where}: written with"
            f" schema {finding.schema_id}{named}, before {finding.previous_schema_id}"
        )
    if finding.kind is Kind.SCHEMA_NOT_FOUND:
        return (
            f"{_clock(finding.at)}  SCHEMA NOT FOUND {finding.event_type}{ident}{where}:"
            f" schema {finding.schema_id}: {finding.reason}"
        )
    if finding.kind is Kind.UNREGISTERED_EVENT:
        return f"{_clock(finding.at)}  UNREGISTERED {finding.event_type}: no schema for this type"
    if finding.kind is Kind.UNCORRELATED:
        return (
            f"{_clock(finding.at)}  UNCORRELATED {finding.event_type}{ident}{where}"
            f" for {finding.expectation}: {finding.reason}"
        )
    if finding.kind is Kind.BUS_SILENT:
        return f"{_clock(finding.at)}  BUS SILENT {finding.reason}"
    if finding.kind is Kind.CAPACITY:
        return f"{_clock(finding.at)}  CAPACITY {finding.expectation or ''}: {finding.reason}"
    return f"{_clock(finding.at)}  MALFORMED{where}: {finding.reason}"


def _wait(step: StepStatus) -> str:
    return "  (after its stall)" if step.stalled else ""


def _clock(epoch: float | None) -> str:
    return "--:--:--" if epoch is None else format_rfc3339(epoch)[11:19]


def _by_time(entry: tuple[float, int, str]) -> tuple[float, int]:
    return entry[0], entry[1]
