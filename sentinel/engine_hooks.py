"""What the engine needs from around it: a schema check, and an observer that counts (metrics).

Both are protocols with do-nothing defaults, so replay and the tests need neither.
"""

from __future__ import annotations

from typing import Protocol


class SchemaCheck(Protocol):
    """What the engine needs of a schema registry (sentinel.schemas.SchemaRegistry)."""

    def check(self, event_type: str, data: object) -> list[str] | None: ...


class EngineObserver(Protocol):
    """Hooks for metrics; called synchronously, so implementations must be cheap."""

    def event_read(self, event_type: str, outcome: str) -> None: ...
    def rollout_opened(self, expectation: str) -> None: ...
    def rollout_closed(self, expectation: str, outcome: str, duration_s: float) -> None: ...
    def step_seen(self, expectation: str, step: str, wait_s: float) -> None: ...


class NullObserver:
    """The observer when nobody is watching (replay, tests)."""

    def event_read(self, event_type: str, outcome: str) -> None:
        pass

    def rollout_opened(self, expectation: str) -> None:
        pass

    def rollout_closed(self, expectation: str, outcome: str, duration_s: float) -> None:
        pass

    def step_seen(self, expectation: str, step: str, wait_s: float) -> None:
        pass


class NoSchemas:
    """No schema for any type: every event is unregistered."""

    def check(self, event_type: str, data: object) -> list[str] | None:
        return None
