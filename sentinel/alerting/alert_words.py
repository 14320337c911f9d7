"""Findings and rollouts in plain words, the same in every sink; pure, times in a given zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from urllib.parse import quote

from sentinel.alerting.settings import AlertingSettings
from sentinel.core.durations import format_duration
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.kinds import KINDS, sentence
from sentinel.core.engine.snapshots import Phase, RolloutView, StepStatus
from sentinel.core.timefmt import parse_rfc3339

# How late a step must be before a message says by how much: at the moment it stalls (and for
# a grouping window after) "overdue by 0s" or "by 10s" says nothing a person can act on.
OVERDUE_WORDS_AFTER = 60.0


def title(kind: Kind) -> str:
    """`Stall`, `Schema violation`: the kind's name in a message (sentinel.core.engine.kinds)."""
    return KINDS[kind].title


def emoji(kind: Kind) -> str:
    """✅ good news, 🔴 a critical problem (someone must act now), 🟠 any other problem."""
    spec = KINDS[kind]
    if spec.good:
        return "✅"
    return "🔴" if spec.severity == "critical" else "🟠"


def clock(epoch: float, tz: tzinfo) -> str:
    """HH:MM:SS in the zone."""
    return datetime.fromtimestamp(epoch, tz).strftime("%H:%M:%S")


def short_clock(epoch: float, tz: tzinfo) -> str:
    """HH:MM, with seconds only when there are some: how people say a time."""
    moment = datetime.fromtimestamp(epoch, tz)
    return moment.strftime("%H:%M:%S" if moment.second else "%H:%M")


def stamp(epoch: float, tz: tzinfo) -> str:
    """Date and time with the zone's name, for the one place a message shows a full time."""
    return datetime.fromtimestamp(epoch, tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def headline(view: RolloutView | None, latest: Finding) -> tuple[str, str, bool]:
    """(emoji, label, resolved) for a rollout as its latest view and finding show it."""
    if view is not None:
        if view.phase == Phase.COMPLETED:
            return "✅", "Completed", True
        if view.phase == Phase.ROLLED_BACK:
            return "↩️", "Rolled back", True
        if view.phase == Phase.ABANDONED:  # called off by a person (contract section 14)
            return emoji(Kind.ABANDONED), title(Kind.ABANDONED), True
        if any(_overdue(step, latest.at) for step in _live_steps(view)):
            return "🔴", "Stalled", False
        if view.phase == Phase.ROLLING_BACK:
            return "🟠", "Rolling back", False
        if view.deadline_at is not None and latest.at >= view.deadline_at:
            return "🔴", "Deadline exceeded", False
    return emoji(latest.kind), title(latest.kind), not latest.is_problem


def describe(finding: Finding, view: RolloutView | None, tz: tzinfo) -> str:
    """The finding in one sentence, e.g. `B expected by 10:10 after A at 10:00; nothing seen`:
    the kind's sentence (sentinel.core.engine.kinds), told more precisely where the rollout's
    view knows more (which step came before, what is still missing, the compensation's name)."""
    if view is not None:
        precise = _WITH_VIEW.get(finding.kind)
        if precise is not None:
            return precise(finding, view, tz)
    return describe_event(finding, tz)


def describe_event(finding: Finding, tz: tzinfo = UTC) -> str:
    """The kind's sentence, times in the zone: what the board and replay's text say too."""
    return sentence(finding.to_json_dict(), lambda time: short_clock(parse_rfc3339(time), tz))


def counted(kind: Kind, count: int) -> str:
    """`1 schema violation`, `1,000 new unknown event types`."""
    one, several = KINDS[kind].nouns
    return f"{count:,} {one if count == 1 else several}"


def span(first: float, last: float, tz: tzinfo) -> str:
    """`at 10:00:01` or `between 10:00:01 and 10:04:59`."""
    if first == last:
        return f"at {clock(first, tz)}"
    return f"between {clock(first, tz)} and {clock(last, tz)}"


def of_type(kind: Kind, event_type: str | None) -> str:
    """`: A` after the count of a kind found once per type (the type is what was found),
    ` of A` after any other; nothing without a type."""
    if event_type is None:
        return ""
    return f": {event_type}" if KINDS[kind].per_type else f" of {event_type}"


def event_summary(
    kind: Kind, event_type: str | None, findings: tuple[Finding, ...], count: int, tz: tzinfo
) -> str:
    """How many of one kind of event-level finding arrived, of which type, over which times:
    `2 schema violations of OrderPlaced at 10:00:00`."""
    when = span(findings[0].at, findings[-1].at, tz)
    return f"{counted(kind, count)}{of_type(kind, event_type)} {when}"


def checklist(view: RolloutView, as_of: float, tz: tzinfo) -> list[str]:
    """One line per step (and the compensation), in the expectation's order."""
    seen = {step.step for step in view.steps if step.seen_at is not None}
    cancelled = view.phase in (Phase.ROLLING_BACK, Phase.ROLLED_BACK)
    lines = [
        f"⚪ {step.step}: cancelled by the rollback"
        if cancelled and step.seen_at is None
        else _step_line(step, seen, view.owner, as_of, tz)
        for step in view.steps
    ]
    if view.compensation is not None:
        comp = _step_line(view.compensation, seen, view.owner, as_of, tz)
        lines.append(f"{comp} (compensation)")
    return lines


def overdue(due: float, as_of: float, tz: tzinfo) -> str:
    """A step due by `due` and not seen by `as_of`: `due by 10:10, nothing seen yet` while it
    is less than OVERDUE_WORDS_AFTER late (a message never says "overdue by 0s"), then
    `due by 10:10, overdue by 32m, nothing seen yet`."""
    late = as_of - due
    if late < OVERDUE_WORDS_AFTER:
        return f"due by {short_clock(due, tz)}, nothing seen yet"
    return f"due by {short_clock(due, tz)}, overdue by {format_duration(late)}, nothing seen yet"


def is_plain_seen(line: str) -> bool:
    """A checklist line of a step seen on time: the first to fold away when space runs out."""
    return line.startswith("✅")


def links(settings: AlertingSettings, finding: Finding) -> tuple[str | None, str | None]:
    """(dashboard, runbook) URLs for the finding's expectation, with placeholders filled in."""
    own = settings.for_expectation(finding.expectation)
    values = {
        "expectation": quote(finding.expectation or "", safe=""),
        "rollout": quote(finding.rollout or "", safe=""),
        "owner": quote(finding.owner or "", safe=""),
        "step": quote(finding.step or "", safe=""),
    }
    dashboard = own.dashboard_url or settings.dashboard_url
    runbook = own.runbook_url or settings.runbook_url
    return (
        None if dashboard is None else dashboard.format_map(values),
        None if runbook is None else runbook.format_map(values),
    )


def _stall(finding: Finding, view: RolloutView, tz: tzinfo) -> str:
    step = _status(view, finding.step)
    due = finding.deadline if finding.deadline is not None else (step.due_at if step else None)
    expected = (
        f"{finding.step} expected by {short_clock(due, tz)}" if due else f"{finding.step} overdue"
    )
    after = ""
    if step is not None:
        times = {s.step: s.seen_at for s in view.steps if s.seen_at is not None}
        known = [(times[name], name) for name in step.after if name in times]
        if known:
            at, name = max(known)
            after = f" after {name} at {short_clock(at, tz)}"
        elif not step.after:
            after = f" after the rollout opened at {short_clock(view.opened_at, tz)}"
    return f"{expected}{after}; nothing seen"


def _recovered(finding: Finding, view: RolloutView, tz: tzinfo) -> str:
    step = _status(view, finding.step)
    if step is None or step.seen_at is None or step.due_at is None:
        return describe_event(finding, tz)
    late = format_duration(max(step.seen_at - step.due_at, 0))
    return (
        f"{finding.step} seen at {clock(step.seen_at, tz)}, {late} after it was due "
        f"at {short_clock(step.due_at, tz)}"
    )


def _deadline_exceeded(finding: Finding, view: RolloutView, tz: tzinfo) -> str:
    unseen = [step.step for step in _all_steps(view) if step.seen_at is None]
    rest = f"; still missing: {', '.join(unseen)}" if unseen else ""
    return describe_event(finding, tz) + rest


def _completed(finding: Finding, view: RolloutView, tz: tzinfo) -> str:
    return f"all {len(view.steps)} steps seen{_took(finding)}"


def _rollback(finding: Finding, view: RolloutView, tz: tzinfo) -> str:
    comp = view.compensation
    if comp is None or comp.due_at is None:
        return describe_event(finding, tz)
    return f"{describe_event(finding, tz)}; {comp.step} expected by {short_clock(comp.due_at, tz)}"


def _rolled_back(finding: Finding, view: RolloutView, tz: tzinfo) -> str:
    if view.compensation is None:
        return describe_event(finding, tz)
    return f"{view.compensation.step} seen{_took(finding)}"


# What the rollout's view adds to a kind's sentence; kinds without an entry say just that.
_WITH_VIEW: dict[Kind, Callable[[Finding, RolloutView, tzinfo], str]] = {
    Kind.STALL: _stall,
    Kind.RECOVERED: _recovered,
    Kind.DEADLINE_EXCEEDED: _deadline_exceeded,
    Kind.COMPLETED: _completed,
    Kind.ROLLBACK: _rollback,
    Kind.ROLLED_BACK: _rolled_back,
}


def _step_line(
    step: StepStatus, seen: set[str], rollout_owner: str | None, as_of: float, tz: tzinfo
) -> str:
    if step.seen_at is not None:
        if step.stalled and step.due_at is not None:
            late = format_duration(max(step.seen_at - step.due_at, 0))
            line = f"🟡 {step.step}: seen at {clock(step.seen_at, tz)}, {late} late"
        else:
            line = f"✅ {step.step}: seen at {clock(step.seen_at, tz)}"
    elif step.due_at is not None and _overdue(step, as_of):
        line = f"🔴 {step.step}: {overdue(step.due_at, as_of, tz)}"
    elif step.due_at is not None:
        line = f"⏳ {step.step}: due by {clock(step.due_at, tz)}"
    else:
        waiting = [name for name in step.after if name not in seen]
        line = (
            f"⚪ {step.step}: waits for {', '.join(waiting)}"
            if waiting
            else f"⚪ {step.step}: not seen yet"
        )
    if step.owner is not None and step.owner != rollout_owner:
        line += f" · owner {step.owner}"
    return line


def _overdue(step: StepStatus, as_of: float) -> bool:
    if step.seen_at is not None:
        return False
    return step.stalled or (step.due_at is not None and step.due_at <= as_of)


def _live_steps(view: RolloutView) -> tuple[StepStatus, ...]:
    # During a rollback the steps' deadlines are cancelled: only the compensation is due.
    if view.phase == Phase.ROLLING_BACK:
        return () if view.compensation is None else (view.compensation,)
    return view.steps


def _all_steps(view: RolloutView) -> tuple[StepStatus, ...]:
    return view.steps + ((view.compensation,) if view.compensation is not None else ())


def _status(view: RolloutView | None, name: str | None) -> StepStatus | None:
    if view is None or name is None:
        return None
    for step in _all_steps(view):
        if step.step == name:
            return step
    return None


def _took(finding: Finding) -> str:
    return f"; took {format_duration(finding.duration_s)}" if finding.duration_s is not None else ""
