"""Findings and rollouts in plain words, the same in every sink; pure, times in a given zone."""

from __future__ import annotations

from datetime import datetime, tzinfo
from urllib.parse import quote

from sentinel.alerting.config import AlertingSettings
from sentinel.durations import format_duration
from sentinel.findings import Finding, Kind
from sentinel.views import Phase, RolloutView, StepStatus

TITLES = {
    Kind.STALL: "Stall",
    Kind.RECOVERED: "Recovered",
    Kind.OUT_OF_ORDER: "Out of order",
    Kind.DEADLINE_EXCEEDED: "Deadline exceeded",
    Kind.COMPLETED: "Completed",
    Kind.ROLLBACK: "Rollback",
    Kind.ROLLED_BACK: "Rolled back",
    Kind.SCHEMA_VIOLATION: "Schema violations",
    Kind.UNREGISTERED_EVENT: "Unregistered event type",
    Kind.UNCORRELATED: "Uncorrelated events",
    Kind.MALFORMED: "Malformed records",
    Kind.BUS_SILENT: "Bus silent",
    Kind.SCHEMA_CHANGED: "Schema changed",
    Kind.SCHEMA_NOT_FOUND: "Schema not found",
    Kind.CAPACITY: "Capacity reached",
}
EMOJI = {
    Kind.STALL: "🔴",
    Kind.DEADLINE_EXCEEDED: "🔴",
    Kind.BUS_SILENT: "🔴",
    Kind.RECOVERED: "✅",
    Kind.COMPLETED: "✅",
    Kind.ROLLED_BACK: "↩️",
}


def emoji(kind: Kind) -> str:
    return EMOJI.get(kind, "🟠")


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
        if any(_overdue(step, latest.at) for step in _live_steps(view)):
            return "🔴", "Stalled", False
        if view.phase == Phase.ROLLING_BACK:
            return "🟠", "Rolling back", False
        if view.deadline_at is not None and latest.at >= view.deadline_at:
            return "🔴", "Deadline exceeded", False
    labels = {
        Kind.STALL: "Stalled",
        Kind.DEADLINE_EXCEEDED: "Deadline exceeded",
        Kind.ROLLBACK: "Rolling back",
        Kind.OUT_OF_ORDER: "Out of order",
        Kind.RECOVERED: "Recovered",
        Kind.COMPLETED: "Completed",
        Kind.ROLLED_BACK: "Rolled back",
    }
    return emoji(latest.kind), labels.get(latest.kind, TITLES[latest.kind]), not latest.is_problem


def describe(finding: Finding, view: RolloutView | None, tz: tzinfo) -> str:
    """The finding in one sentence, e.g. `B expected by 10:10 after A at 10:00; nothing seen`."""
    step = _status(view, finding.step)
    if finding.kind == Kind.STALL:
        return _stall(finding, step, view, tz)
    if finding.kind == Kind.RECOVERED:
        if step is not None and step.seen_at is not None and step.due_at is not None:
            late = format_duration(max(step.seen_at - step.due_at, 0))
            return (
                f"{finding.step} seen at {clock(step.seen_at, tz)}, {late} after it was due "
                f"at {short_clock(step.due_at, tz)}"
            )
        return f"{finding.step} seen after all, at {clock(finding.at, tz)}"
    if finding.kind == Kind.OUT_OF_ORDER:
        missing = ", ".join(finding.missing or ()) or "its prerequisites"
        return f"{finding.step} seen before {missing}"
    if finding.kind == Kind.DEADLINE_EXCEEDED:
        when = short_clock(finding.deadline, tz) if finding.deadline is not None else "its deadline"
        unseen = [s.step for s in _all_steps(view) if s.seen_at is None] if view else []
        rest = f"; still missing: {', '.join(unseen)}" if unseen else ""
        return f"not complete by its deadline at {when}{rest}"
    if finding.kind == Kind.COMPLETED:
        count = f"all {len(view.steps)} steps" if view is not None else "every step"
        return f"{count} seen{_took(finding)}"
    if finding.kind == Kind.ROLLBACK:
        trigger = finding.event_type or finding.step or "a rollback event"
        comp = view.compensation if view is not None else None
        if comp is not None and comp.due_at is not None:
            due = short_clock(comp.due_at, tz)
            return f"rollback started by {trigger}; {comp.step} expected by {due}"
        return f"rollback started by {trigger}"
    if finding.kind == Kind.ROLLED_BACK:
        comp = view.compensation if view is not None else None
        done = f"{comp.step} seen" if comp is not None else "compensation seen"
        return f"rolled back: {done}{_took(finding)}"
    return describe_event(finding)


def describe_event(finding: Finding) -> str:
    """One event-level finding (schema, correlation, malformed, bus) in one sentence."""
    event = f"{finding.event_type or 'event'} {finding.event_id or '(no id)'}"
    if finding.kind == Kind.SCHEMA_VIOLATION:
        errors = finding.errors or ()
        first = errors[0] if errors else "no details"
        more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
        which = {"writer": "the schema it was written with", "reader": "its consumers' schema"}
        schema = which.get(finding.against or "", "its schema")
        return f"{event} fails {schema}: {first}{more}"
    if finding.kind == Kind.SCHEMA_CHANGED:
        named = f" ({finding.subject} version {finding.version})" if finding.subject else ""
        source = f" by {finding.event_source}" if finding.event_source else ""
        return (
            f"{finding.event_type} is now written{source} with schema {finding.schema_id}"
            f"{named}, not {finding.previous_schema_id}: check that its consumers can read it"
        )
    if finding.kind == Kind.SCHEMA_NOT_FOUND:
        why = finding.reason or "the registry does not have it"
        return f"{event} names schema {finding.schema_id}: {why}; it advanced nothing"
    if finding.kind == Kind.UNREGISTERED_EVENT:
        return f"events of type {finding.event_type} have no schema; they are not validated"
    if finding.kind == Kind.UNCORRELATED:
        return f"{event} has no value at the correlate path of {finding.expectation}"
    if finding.kind == Kind.MALFORMED:
        source = f" from {finding.event_source}" if finding.event_source else ""
        return f"a record{source} could not be read: {finding.reason or 'no reason given'}"
    if finding.kind == Kind.BUS_SILENT:
        return finding.reason or "no record has arrived on the bus for longer than allowed"
    if finding.kind == Kind.CAPACITY:
        return finding.reason or "a bound of limits: was reached"
    return TITLES[finding.kind]


# A digest's words for one kind of event-level finding: (one, several).
NOUNS = {
    Kind.UNREGISTERED_EVENT: ("new unknown event type", "new unknown event types"),
    Kind.SCHEMA_VIOLATION: ("schema violation", "schema violations"),
    Kind.UNCORRELATED: ("event without a correlation key", "events without a correlation key"),
    Kind.MALFORMED: ("malformed record", "malformed records"),
    Kind.BUS_SILENT: ("bus silence", "bus silences"),
    Kind.SCHEMA_CHANGED: ("schema change", "schema changes"),
    Kind.SCHEMA_NOT_FOUND: (
        "event naming a schema the registry lacks",
        "events naming a schema the registry lacks",
    ),
    Kind.CAPACITY: ("bound of limits: reached", "bounds of limits: reached"),
}


def counted(kind: Kind, count: int) -> str:
    """`1 schema violation`, `1,000 new unknown event types`."""
    one, several = NOUNS.get(kind, (TITLES[kind], TITLES[kind]))
    return f"{count:,} {one if count == 1 else several}"


def span(first: float, last: float, tz: tzinfo) -> str:
    """`at 10:00:01` or `between 10:00:01 and 10:04:59`."""
    if first == last:
        return f"at {clock(first, tz)}"
    return f"between {clock(first, tz)} and {clock(last, tz)}"


def event_summary(
    kind: Kind, event_type: str | None, findings: tuple[Finding, ...], count: int, tz: tzinfo
) -> str:
    """How many of one kind of event-level finding arrived, and over which times."""
    when = span(findings[0].at, findings[-1].at, tz)
    what = {
        Kind.SCHEMA_VIOLATION: f"{event_type} events failed their schema",
        Kind.UNREGISTERED_EVENT: f"events of unregistered type {event_type}",
        Kind.UNCORRELATED: f"{event_type} events had no correlation key",
        Kind.MALFORMED: "records could not be read",
        Kind.BUS_SILENT: "bus silences",
        Kind.SCHEMA_CHANGED: f"schema changes of {event_type}",
        Kind.SCHEMA_NOT_FOUND: f"{event_type} events named a schema the registry does not have",
        Kind.CAPACITY: "times a bound of limits: refused a rollout or a type",
    }.get(kind, TITLES[kind])
    return f"{count} {what} {when}"


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


def _stall(finding: Finding, step: StepStatus | None, view: RolloutView | None, tz: tzinfo) -> str:
    due = finding.deadline if finding.deadline is not None else (step.due_at if step else None)
    expected = (
        f"{finding.step} expected by {short_clock(due, tz)}" if due else f"{finding.step} overdue"
    )
    after = ""
    if step is not None and view is not None:
        times = {s.step: s.seen_at for s in view.steps if s.seen_at is not None}
        known = [(times[name], name) for name in step.after if name in times]
        if known:
            at, name = max(known)
            after = f" after {name} at {short_clock(at, tz)}"
        elif not step.after:
            after = f" after the rollout opened at {short_clock(view.opened_at, tz)}"
    return f"{expected}{after}; nothing seen"


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
        over = format_duration(max(as_of - step.due_at, 0))
        line = f"🔴 {step.step}: due by {clock(step.due_at, tz)}, overdue by {over}, missing"
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
