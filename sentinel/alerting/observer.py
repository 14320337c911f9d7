"""How alerting reports on itself (deliveries, depth, broken sinks), without knowing metrics."""

from __future__ import annotations

from typing import Protocol

OUTCOMES = ("sent", "retried", "failed", "dropped_permanent", "silenced", "shadow")


class AlertObserver(Protocol):
    """Hooks for metrics; called on the event loop's thread, so they must be cheap."""

    def sink_started(self, sink: str) -> None:
        """A sink's worker runs: its series exist from now on, at zero."""

    def alert_counted(self, sink: str, outcome: str) -> None:
        """One delivery attempt or decision, with an outcome of OUTCOMES."""

    def alert_delivered(self, sink: str, seconds: float) -> None:
        """From entering the outbox to being delivered."""

    def outbox_depth(self, sink: str, depth: int) -> None:
        """Alerts of the sink not yet delivered."""

    def sink_failing(self, sink: str, failing: bool) -> None:
        """The sink has (or no longer has) a permanent error."""


class NullAlertObserver:
    """The observer when nobody is watching (tests, tools)."""

    def sink_started(self, sink: str) -> None:
        pass

    def alert_counted(self, sink: str, outcome: str) -> None:
        pass

    def alert_delivered(self, sink: str, seconds: float) -> None:
        pass

    def outbox_depth(self, sink: str, depth: int) -> None:
        pass

    def sink_failing(self, sink: str, failing: bool) -> None:
        pass
