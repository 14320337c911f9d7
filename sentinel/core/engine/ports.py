"""What the engine needs from around it (a schema check, an observer that counts) and what it
hands a store after a batch (`EngineChanges`).

The two needs are protocols with do-nothing defaults, so replay and the tests need neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sentinel.core.engine.rollout import RolloutState
from sentinel.core.engine.writer_schemas import WriterMemory
from sentinel.core.rules.expectations import Expectation


@dataclass(frozen=True, slots=True)
class EngineChanges:
    """Everything a store must write after a batch; a rollout of None was forgotten."""

    rollouts: dict[tuple[str, str], RolloutState | None]
    new_events: list[tuple[str, str, float]]  # (source, id, clock when read)
    new_unregistered: list[str]  # event types reported as unregistered for the first time
    clock: float
    horizon: float  # event ids and closed rollouts older than this may be deleted
    # Types whose writer schema memory changed (`WriterIds`), with all of it.
    writer_ids: dict[str, WriterMemory] = field(default_factory=dict)
    # (expectation, key, step) of each step seen, in order: its span can be exported (section 13).
    steps_seen: list[tuple[str, str, str]] = field(default_factory=list)
    # Open rollouts a reload forgot (their expectation was removed), with their expectation
    # and the clock then: their trace ends there (section 13).
    forgotten: list[tuple[Expectation, RolloutState, float]] = field(default_factory=list)


class SchemaCheck(Protocol):
    """What the engine needs of a schema registry (sentinel.core.events.schemas.SchemaRegistry)."""

    def check(self, event_type: str, data: object) -> list[str] | None: ...


class EngineObserver(Protocol):
    """Hooks for metrics; called synchronously, so implementations must be cheap."""

    def events_read(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Events read since the last call, per (type, outcome): once per batch
        (`EventChecks.tell_reads`); `counts` is lent for the call, not to be kept."""
        ...

    def rollout_opened(self, expectation: str) -> None: ...
    def rollout_closed(self, rollout: RolloutState, outcome: str, duration_s: float) -> None: ...
    def step_seen(self, rollout: RolloutState, step: str, wait_s: float) -> None:
        """`rollout` is lent for the call (its trace ids make exemplars), not to be kept."""
        ...

    def capacity_reached(self, bound: str, expectation: str | None) -> None:
        """A bound of `limits:` refused something (sentinel.core.engine.capacity)."""
        ...

    def trace_context(self, source: str, outcome: str) -> None:
        """An event carried trace context (`cloudevents` or `w3c`), `valid` or `invalid`."""
        ...


class NullObserver:
    """The observer when nobody is watching (replay, tests)."""

    def events_read(self, counts: Mapping[tuple[str, str], int]) -> None:
        pass

    def rollout_opened(self, expectation: str) -> None:
        pass

    def rollout_closed(self, rollout: RolloutState, outcome: str, duration_s: float) -> None:
        pass

    def step_seen(self, rollout: RolloutState, step: str, wait_s: float) -> None:
        pass

    def capacity_reached(self, bound: str, expectation: str | None) -> None:
        pass

    def trace_context(self, source: str, outcome: str) -> None:
        pass


class NoSchemas:
    """No schema for any type: every event is unregistered."""

    def check(self, event_type: str, data: object) -> list[str] | None:
        return None
