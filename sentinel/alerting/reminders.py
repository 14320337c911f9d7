"""Pure: which open stalls are due to be told again (`renotify_after`) or escalated
(`escalate`), decided from durable facts, never from a timer.

The facts: the engine's open stalls (a rollout still open, its stalled step still unseen: state
the store keeps, so a restart restores them) and the outbox's record of what was told. Each
reminder has a key that names its stall and its turn (`<stall id>:<sink>:renotify-3`,
`<stall id>:<sink>:escalate`), and the outbox enqueues a key once: asking again a second later,
or after a restart, tells nothing twice. The n-th re-notification is due `n * renotify_after`
after the step was due, the escalation `escalate.after` after it; after a restart only the
latest turn goes out, not every turn missed meanwhile.

Acknowledgements and snoozes (contract section 14) are facts of the same kind: on-call's
actions are kept with the rollout in the state store, and each open stall's view carries them.
A stall raised before the rollout's last acknowledgement is quiet (an acknowledgement is of
the problems open at the time: a stall raised after it is told again), and every stall of a
rollout is quiet while a snooze lasts; when the snooze ends, the current turn is told, as
after a restart. `snoozes` gives the open rollouts' latest snoozes, for their threads to say
when one is over, once each (its delivery's key names the snooze).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from sentinel.alerting.grouper import Context
from sentinel.alerting.settings import AlertingSettings
from sentinel.core.engine.actions import Action, Verb, acknowledged_at, snoozed_until
from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.rollout import RolloutState
from sentinel.core.engine.snapshots import Phase, RolloutView, StepState
from sentinel.core.ports.outbox import Item, Thread, thread_key

# Delivered alerts are remembered this long (the alerter prunes older ones), so a finding raised
# again is not sent again, and a reminder's key is known for its whole turn.
RETENTION = 7 * 86400.0
ESCALATION = 0  # the turn of an escalation; re-notifications count from 1
OPEN_PHASES = (Phase.OPEN, Phase.ROLLING_BACK)


@dataclass(frozen=True, slots=True)
class OpenStall:
    """A stall still open: its rollout open, its step not seen. `finding` is the stall as the
    engine raised it (its id names the stall); `view` the rollout now."""

    finding: Finding
    view: RolloutView

    @property
    def due(self) -> float:
        """When the step was due: the stall's deadline."""
        return self.finding.deadline if self.finding.deadline is not None else self.finding.at

    @property
    def key(self) -> str:
        """Its rollout's thread key in the outbox."""
        return thread_key(self.finding.expectation, self.finding.rollout)


@dataclass(frozen=True, slots=True)
class Reminder:
    """One open stall to tell again at `now`: the `turn`-th re-notification, or its escalation
    (turn ESCALATION)."""

    stall: OpenStall
    turn: int
    now: float

    @property
    def escalation(self) -> bool:
        return self.turn == ESCALATION

    def key(self, sink: str) -> str:
        """The delivery's key: its stall, its sink and its turn, so each goes out once."""
        purpose = "escalate" if self.escalation else f"renotify-{self.turn}"
        return f"{self.stall.finding.id}:{sink}:{purpose}"


# How a sink tells a reminder (its `Sink.remind` and `Sink.escalate`): the delivery, given the
# rollout's thread in that sink (None: never told there); None when it has nothing to send.
Teller = Callable[[Reminder, Thread | None, Context], Item | None]


def no_stalls(among: Rollouts | None) -> tuple[OpenStall, ...]:
    """The open stalls of an alerter without an engine: none."""
    return ()


def due_reminders(
    stalls: Iterable[OpenStall], now: float, settings: AlertingSettings
) -> list[Reminder]:
    """The reminders due at `now`: for each stall the current turn of its re-notification (the
    n-th once `n * renotify_after` have passed since it was due) and its escalation once
    `escalate.after` has passed. A turn is due only while the outbox still remembers its key
    (RETENTION), so a stall open for weeks is never escalated twice. A stall on-call
    answered (`quiet`) has nothing due."""
    every, escalate = settings.renotify_after, settings.escalate
    reminders = []
    for stall in stalls:
        if quiet(stall, now):
            continue
        late = now - stall.due
        if every is not None and late >= every:
            turn = int(late // every)
            if late - turn * every < RETENTION:
                reminders.append(Reminder(stall, turn, now))
        if escalate is not None and escalate.after <= late < escalate.after + RETENTION:
            reminders.append(Reminder(stall, ESCALATION, now))
    return reminders


def quiet(stall: OpenStall, now: float) -> bool:
    """On-call answered the stall: acknowledged its rollout after it was raised, or snoozed
    its rollout until after `now`."""
    actions = stall.view.actions
    if not actions:
        return False
    acked = acknowledged_at(actions)
    if acked is not None and acked >= stall.finding.at:
        return True
    return snoozed_until(actions, now) is not None


# Rollouts named by (expectation, rollout key).
Rollouts = Collection[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Snoozed:
    """An open rollout's latest snooze; `view` the rollout now, once the snooze is over."""

    expectation: str
    rollout: str
    snooze: Action
    view: RolloutView | None = None

    def over(self, now: float) -> bool:
        """Ended by `now`, and recently enough that its key is still remembered (RETENTION)."""
        until = self.snooze.until
        return until is not None and until <= now < until + RETENTION


def snoozes(engine: Engine, now: float, among: Rollouts | None = None) -> list[Snoozed]:
    """The latest snooze of each open rollout that has one, of the rollouts `among` or (None)
    of every open rollout (a walk); viewed only when it is over at `now`."""
    found: list[Snoozed] = []
    rollouts: Iterable[RolloutState | None] = (
        engine.open_rollouts()
        if among is None
        else (engine.rollouts.get(name, {}).get(key) for name, key in among)
    )
    for rollout in rollouts:
        if rollout is None or not rollout.actions or rollout.phase not in OPEN_PHASES:
            continue
        asked = [action for action in rollout.actions if action.verb is Verb.SNOOZE]
        if not asked:
            continue
        snoozed = Snoozed(rollout.expectation, rollout.key, max(asked, key=lambda a: a.at))
        if snoozed.over(now):
            view = engine.view(rollout.expectation, rollout.key)
            if view is None:
                continue
            snoozed = Snoozed(rollout.expectation, rollout.key, snoozed.snooze, view)
        found.append(snoozed)
    return found


def no_snoozes(now: float, among: Rollouts | None) -> tuple[Snoozed, ...]:
    """The snoozes of an alerter without an engine: none."""
    return ()


def open_stalls(engine: Engine, among: Rollouts | None = None) -> list[OpenStall]:
    """The engine's open stalls: steps of open rollouts that stalled and are still unseen (not
    cancelled by a rollback), each with its stall finding as kept with the rollout; of the
    rollouts `among`, or of every open rollout (None: a walk of them all, 0.4 s a million).
    Only rollouts with a stall are viewed: almost none of them."""
    stalls: list[OpenStall] = []
    rollouts: Iterable[RolloutState | None] = (
        engine.open_rollouts()
        if among is None
        else (engine.rollouts.get(name, {}).get(key) for name, key in among)
    )
    for rollout in rollouts:
        if rollout is None or not rollout.stalled or rollout.phase not in OPEN_PHASES:
            continue
        view = engine.view(rollout.expectation, rollout.key)
        if view is None:
            continue
        steps = view.steps + ((view.compensation,) if view.compensation is not None else ())
        unseen = {step.step for step in steps if step.state == StepState.STALLED}
        stalls.extend(
            OpenStall(finding, view)
            for finding in rollout.findings
            if finding.kind == Kind.STALL and finding.step in unseen
        )
    return stalls
