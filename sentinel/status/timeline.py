"""The text timeline of `sentinel replay --format text`: what was seen when, what is overdue,
what is missing, one block per rollout, for a person reading a terminal (every line through
`printable`, because rollout keys and event types come from the bus).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sentinel.alerting.alert_words import OVERDUE_WORDS_AFTER
from sentinel.core.durations import format_duration
from sentinel.core.engine.findings import ROLLOUT_KINDS, Finding, Kind
from sentinel.core.engine.kinds import KINDS, sentence
from sentinel.core.engine.snapshots import Phase, RolloutView, StepStatus
from sentinel.core.printable import printable
from sentinel.core.timefmt import format_rfc3339

_PHASE_LABEL = {
    Phase.OPEN: "OPEN",
    Phase.ROLLING_BACK: "ROLLING BACK",
    Phase.COMPLETED: "COMPLETED",
    Phase.ROLLED_BACK: "ROLLED BACK",
    Phase.ABANDONED: "ABANDONED",
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
    # Its trace id is the one the live sentinel gives it: a replayed rollout's trace can be
    # looked up in the tracing UI.
    header = (
        f"{view.expectation} / {view.rollout}  {_PHASE_LABEL[view.phase]}"
        f"  (opened {format_rfc3339(view.opened_at)}"
        + (f", owner {view.owner}" if view.owner else "")
        + f", trace {view.trace_id})"
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
            late = clock - step.due_at
            overdue = (
                "nothing seen yet"  # never "overdue by 0s", as the alerts
                if late < OVERDUE_WORDS_AFTER
                else f"overdue by {format_duration(late)}"
            )
            lines.append(f"MISSING  {step.step}: due {_clock(step.due_at)}, {overdue}{who}")
        elif step.due_at is not None:
            lines.append(f"waiting  {step.step}: due {_clock(step.due_at)}{who}")
        else:
            waiting_for = ", ".join(step.after) or "its first event"
            lines.append(f"waiting  {step.step}: after {waiting_for}{who}")
    return lines


def _finding_line(finding: Finding) -> str:
    """`STALL    B expected by 10:11:00; nothing seen`: problems shout, good news does not."""
    spec = KINDS[finding.kind]
    label = spec.title.lower() if spec.good else spec.title.upper()
    return f"{label:<8} {sentence(finding.to_json_dict())}"


def _event_line(finding: Finding) -> str:
    return f"{_clock(finding.at)}  {_finding_line(finding)}"


def _wait(step: StepStatus) -> str:
    return "  (after its stall)" if step.stalled else ""


def _clock(epoch: float | None) -> str:
    return "--:--:--" if epoch is None else format_rfc3339(epoch)[11:19]


def _by_time(entry: tuple[float, int, str]) -> tuple[float, int]:
    return entry[0], entry[1]
