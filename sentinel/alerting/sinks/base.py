"""What a sink is: one record that says how its section is read, how a closed window becomes
deliveries, how they are delivered, and whether people read it. Each sink's module exports one
`Sink`; `sinks.SINKS` lists them, and nothing else in the alerting names a sink."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sentinel.alerting.delivery import Transport
from sentinel.alerting.grouper import Context, Planner
from sentinel.alerting.reminders import Teller
from sentinel.alerting.settings import SinkSettings
from sentinel.configkit import Section
from sentinel.core.engine.actions import Action
from sentinel.core.engine.findings import Finding
from sentinel.core.engine.snapshots import RolloutView
from sentinel.core.ports.outbox import ROLLOUT_PRIORITY, Item, Thread, item_key

S = TypeVar("S", bound=SinkSettings)
# What a sink says of an on-call action just kept (contract section 14): the action, its
# rollout's view after it, the sink's thread of that rollout (None: the sink never told it),
# the context. Pure, as `plan`: the deliveries to enqueue (none is fine). The alerter asks
# again with a snooze once it is over (`ctx.now` past its `until`), for the thread to say so.
ActionPlanner = Callable[[Action, RolloutView, Thread | None, Context], Sequence[Item]]


def one_lane(settings: object, finding: Finding) -> str:
    """The destination of a sink that has one: every delivery in one lane, in order."""
    return ""


def as_planned(settings: object, item: Item, now: float) -> Item:
    """A test alert as the sink's plan made it: the test finding's words say it is a test."""
    return item


def one_lane_item(
    findings: Sequence[Finding],
    since: float,
    ctx: Context,
    payload: dict[str, Any],
    tag: str,
    priority: int = ROLLOUT_PRIORITY,
) -> Item:
    """A delivery of a sink with one destination: its one lane goes in order, and event-level
    findings (NOISE_PRIORITY) queue behind the rollouts' alerts."""
    return Item(
        key=item_key(findings, ctx.sink, tag),
        sink=ctx.sink,
        payload=payload,
        enqueued_at=since,
        next_at=ctx.now,
        priority=priority,
    )


@dataclass(frozen=True, slots=True)
class Sink(Generic[S]):
    """One kind of sink, whole: the router, the alerter and the config read only this."""

    # Its key under `alerting:`, and the name metrics, `/readyz` and the outbox know it by.
    name: str
    # Its settings (a frozen dataclass with a `name`), and the reader of its section: called
    # with the section and the name to give it, it refuses every unknown key and wrong value.
    settings: type[S]
    parse: Callable[[Section, str], S]
    # The pure planner of a closed window: rollout groups and event groups to outbox items.
    plan: Planner
    # Its I/O, built once per sender run from its settings.
    transport: Callable[[S], Transport]
    # People read it: findings wait `grouping.window` so that a burst is one message, and the
    # event-level findings of a destination are held as one sampled digest per
    # `event_interval` (its `plan` renders it). Machines get every finding at once and one
    # delivery per kind and event type.
    human: bool
    # The lane of a finding (a Slack channel); a sink with one destination has one lane.
    destination: Callable[[S, Finding], str] = one_lane
    # Set for a sink configured as a list (`webhooks:`): the list's key. Each item is a sink
    # of its own, named `name`, `name-1`, ... unless it says `name:`.
    list_key: str | None = None
    # People read it: an open stall it told is told again every `renotify_after` (`remind`), and
    # posted once in `escalate.channel` (`escalate`). None: the sink tells once (a machine, or
    # a service that repeats and escalates by itself).
    remind: Teller | None = None
    escalate: Teller | None = None
    # `sentinel alerts test` (`alerting/drill.py`): its plan's delivery of the test finding,
    # marked as a test the sink's own way (a webhook's `"test": true`, an Alertmanager label).
    mark_test: Callable[[S, Item, float], Item] = as_planned
    # On-call acted on a rollout (acknowledge, snooze, note, abandon from Slack or the board):
    # Slack updates the parent message, PagerDuty sends `acknowledge`. None: says nothing.
    on_action: ActionPlanner | None = None

    @property
    def key(self) -> str:
        """Its key under `alerting:`."""
        return self.list_key or self.name


def check_http_url(section: Section, key: str, url: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise section.fail(key, "must be an http:// or https:// URL")
