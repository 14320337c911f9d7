"""On-call actions in the batch pipeline (contract section 14): applied first, each applied or
refused in `Kept.acted`, their findings, state and deliveries kept in the batch's one
transaction, or none of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import pytest
from engine.helpers import MIN, T0, event, user_service

from sentinel.core.engine.actions import Action, Requested, UnknownRollout, make_action
from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.snapshots import RolloutView
from sentinel.core.errors import StoreError
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.pipeline.pipeline import Pipeline, WallClock
from sentinel.core.ports.store import Batch
from sentinel.store.memory import MemoryStore

from .helpers import record

NAME = "user-service-v2"


class Watching(MemoryStore):
    """A memory store that says whether its transaction is open, and can fail its next one."""

    def __init__(self) -> None:
        super().__init__()
        self.open = False
        self.fail = False

    @contextmanager
    def transaction(self) -> Iterator[Batch]:
        with super().transaction() as batch:
            self.open = True
            try:
                yield batch
                if self.fail:
                    raise StoreError("the disk is full")
            finally:
                self.open = False


class Alerts:
    """Records what the pipeline hands alerting, and whether the store's batch was open."""

    def __init__(self, store: Watching) -> None:
        self.store = store
        self.calls: list[tuple[str, bool, object]] = []

    def accept(
        self,
        findings: Sequence[Finding],
        view: Callable[[str, str], RolloutView | None],
        now: float,
    ) -> None:
        self.calls.append(("accept", self.store.open, [f.kind for f in findings]))

    def flush_due(self, now: float) -> None:
        pass

    def acted(self, applied: Sequence[tuple[Action, RolloutView]], now: float) -> None:
        shown = [(action.verb.value, view.rollout, len(view.actions)) for action, view in applied]
        self.calls.append(("acted", self.store.open, shown))


def opened() -> tuple[Pipeline, Watching, Alerts]:
    store = Watching()
    alerts = Alerts(store)
    sentinel = Pipeline(Engine([user_service()]), store, BusDecoder(), alerts)
    sentinel.process([record(event("SchemaV2_Ready", T0, "r1"), 0)], WallClock(T0 + MIN))
    alerts.calls.clear()
    return sentinel, store, alerts


def test_actions_are_applied_first_and_told_to_alerting_inside_the_transaction() -> None:
    sentinel, store, alerts = opened()
    ack = make_action("acknowledge", "ana", T0 + 2 * MIN, "slack")
    why = make_action("abandon", "bo", T0 + 2 * MIN, "board", note="bad image")
    kept = sentinel.process(
        [record(event("UserServiceV2_Running", T0 + 2 * MIN, "r1"), 1)],
        WallClock(T0 + 2 * MIN),
        actions=[Requested(NAME, "r1", ack), Requested(NAME, "r1", why)],
    )
    assert [(o.applied, len(o.actions)) for o in kept.acted] == [(True, 1), (True, 2)]
    # Abandoned before the record: the record finds it closed and changes nothing.
    assert [f.kind for f in kept.findings if f.rollout] == [Kind.ABANDONED]
    assert [call[:2] for call in alerts.calls] == [("acted", True), ("accept", True)]
    # Each with its rollout as it stood just after it.
    assert alerts.calls[0][2] == [("acknowledge", "r1", 1), ("abandon", "r1", 2)]
    assert Kind.ABANDONED in alerts.calls[1][2]  # type: ignore[operator]
    rollout = store.load().rollouts[0]
    assert rollout.actions == (ack, why)
    assert [f.kind for f in rollout.findings] == [Kind.ABANDONED]
    assert "UserServiceV2_Running" not in rollout.seen


def test_a_refused_action_is_said_with_why_and_changes_nothing() -> None:
    sentinel, store, alerts = opened()
    forged = make_action("acknowledge", "ana", T0 + 2 * MIN, "board")
    kept = sentinel.process([], WallClock(T0 + 2 * MIN), actions=[Requested(NAME, "nope", forged)])
    [outcome] = kept.acted
    assert isinstance(outcome.refused, UnknownRollout)
    assert "nope" in str(outcome.refused)
    assert alerts.calls == []
    assert store.load().rollouts[0].actions == ()


def test_an_action_whose_batch_cannot_be_kept_is_not_kept() -> None:
    sentinel, store, _ = opened()
    store.fail = True
    ack = make_action("acknowledge", "ana", T0 + 2 * MIN, "board")
    with pytest.raises(StoreError):
        sentinel.process([], WallClock(T0 + 2 * MIN), actions=[Requested(NAME, "r1", ack)])
    assert store.load().rollouts[0].actions == ()
