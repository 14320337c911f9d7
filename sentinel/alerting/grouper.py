"""Pure: fold the findings of closed grouping windows into a group per rollout, and a group per
event type (machine sinks) or per channel (a digest, for people) of event-level findings."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

from sentinel.alerting.settings import AlertingSettings
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.kinds import KINDS
from sentinel.core.engine.snapshots import RolloutView
from sentinel.core.ports.outbox import Held, Item, Thread, thread_key

# The outbox's buckets: the router puts each held finding in one, a window closes per bucket.
ROLLOUT_BUCKET = "rollouts"
# People get event-level findings (every kind not about one rollout) as one digest per channel
# and interval: a bucket per destination. Machines get a bucket per kind and event type.
DIGEST_BUCKET = "digest|"
# The rollout's last finding (completed, rolled back, abandoned): its alerts are resolved.
CLOSING_KINDS = frozenset(kind for kind, spec in KINDS.items() if spec.closes)


@dataclass(frozen=True, slots=True)
class RolloutGroup:
    """Every finding of one rollout in one window, with the rollout as the latest one saw it."""

    key: str
    expectation: str
    rollout: str
    destination: str  # the route of its first finding that may open a message
    opens: bool
    findings: tuple[Finding, ...]
    view: RolloutView | None
    held_at: float

    @property
    def latest(self) -> Finding:
        return self.findings[-1]


@dataclass(frozen=True, slots=True)
class EventGroup:
    """Event-level findings of one window: of one kind and event type (machine sinks), or of
    every kind for one channel (a digest). `findings` may be a sample: `counts` says how many
    of each kind there were."""

    bucket: str
    destination: str
    findings: tuple[Finding, ...]
    counts: Mapping[Kind, int]  # in the order of each kind's first finding
    held_at: float

    @property
    def kind(self) -> Kind:
        return self.findings[0].kind

    @property
    def event_type(self) -> str | None:
        return self.findings[0].event_type

    @property
    def count(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class Context:
    """What a sink's planner may know besides the groups: its name, the time, the settings."""

    sink: str
    now: float
    settings: AlertingSettings

    @property
    def tz(self) -> ZoneInfo:
        return self.settings.tz


@dataclass(slots=True)
class Plan:
    """A sink's deliveries for one flush, and the rollouts it now remembers."""

    items: list[Item] = field(default_factory=list)
    threads: dict[str, Thread] = field(default_factory=dict)


# A sink's pure planner: (rollout groups, event groups, threads known for those rollouts, context).
Planner = Callable[
    [Sequence[RolloutGroup], Sequence[EventGroup], Mapping[str, Thread], Context], Plan
]


def is_digest(bucket: str) -> bool:
    return bucket.startswith(DIGEST_BUCKET)


def group(batch: Sequence[Held]) -> tuple[list[RolloutGroup], list[EventGroup]]:
    """Groups in the order of their first finding; findings in the order they were held."""
    rollouts: dict[str, list[Held]] = {}
    events: dict[str, list[Held]] = {}
    for held in batch:
        if held.bucket == ROLLOUT_BUCKET:
            key = thread_key(held.finding.expectation, held.finding.rollout)
            rollouts.setdefault(key, []).append(held)
        else:
            events.setdefault(held.bucket, []).append(held)
    return (
        [_rollout_group(key, members) for key, members in rollouts.items()],
        [_event_group(bucket, members) for bucket, members in events.items()],
    )


def _rollout_group(key: str, members: list[Held]) -> RolloutGroup:
    opening = next((held for held in members if held.opens), members[0])
    views = [held.view for held in members if held.view is not None]
    first = members[0].finding
    return RolloutGroup(
        key=key,
        expectation=first.expectation or "",
        rollout=first.rollout or "",
        destination=opening.destination,
        opens=any(held.opens for held in members),
        findings=tuple(held.finding for held in members),
        view=views[-1] if views else None,
        held_at=min(held.held_at for held in members),
    )


def _event_group(bucket: str, members: list[Held]) -> EventGroup:
    counts: dict[Kind, int] = {}
    for held in members:
        counts[held.finding.kind] = counts.get(held.finding.kind, 0) + held.count
    return EventGroup(
        bucket=bucket,
        destination=members[0].destination,
        findings=tuple(held.finding for held in members),
        counts=counts,
        held_at=min(held.held_at for held in members),
    )


def closes(rollout: RolloutGroup) -> bool:
    """The rollout closed in this window (completed, rolled back, abandoned): its alerts are
    resolved."""
    return any(finding.kind in CLOSING_KINDS for finding in rollout.findings)


def remember(
    rollout: RolloutGroup, known: Thread | None, ctx: Context, channel: str = ""
) -> Thread:
    """The thread a sink keeps for an alerted rollout, marked resolved once it closes."""
    thread = known or Thread(channel=channel, opened_at=ctx.now, lane=channel)
    if closes(rollout) and thread.resolved_at is None:
        thread = replace(thread, resolved_at=ctx.now)
    return thread
