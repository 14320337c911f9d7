"""Small builders shared by the engine tests: expectations and events without YAML or JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding
from sentinel.core.engine.rollout import RolloutState
from sentinel.core.events.envelope import Envelope, Malformed
from sentinel.core.pipeline.replay import replay
from sentinel.core.ports.store import StateStore
from sentinel.core.rules.expectations import Compensation, Expectation, Step

T0 = 1_795_600_800.0  # 2026-11-25T10:00:00Z
MIN = 60.0


def user_service(deadline: float | None = 30 * MIN) -> Expectation:
    """The rollout of the contract's example: schema, user service, messaging, a rollback."""
    return Expectation(
        name="user-service-v2",
        owner="team-identity",
        correlate="data.rollout_id",
        deadline=deadline,
        steps=(
            Step("SchemaV2_Ready"),
            Step(
                "UserServiceV2_Running",
                after=("SchemaV2_Ready",),
                within=10 * MIN,
                owner="team-users",
            ),
            Step("MessagingService_Reconfigured", after=("UserServiceV2_Running",), within=5 * MIN),
        ),
        compensation=(Compensation("Rollback_Initiated", "Rollback_Complete", 15 * MIN),),
    )


_counter = iter(range(10**9))


def event(
    event_type: str, at: float | None, rollout: str = "r1", event_id: str | None = None, **data: Any
) -> Envelope:
    """A valid event of `event_type` for rollout `rollout` at epoch `at`."""
    return Envelope(
        type=event_type,
        id=event_id if event_id is not None else f"e{next(_counter)}",
        source="/tests",
        time=at,
        data={"rollout_id": rollout, **data},
    )


def run(
    engine: Engine,
    events: list[Envelope] | list[Envelope | Malformed],
    until: float | None = None,
    store: StateStore | None = None,
) -> list[Finding]:
    """The events through `replay` (event-time clock), as a list; kept in `store` if given."""
    return list(replay(events, engine, read_at=lambda: T0, until=until, store=store))


def kinds(findings: list[Finding]) -> list[str]:
    return [str(finding.kind) for finding in findings]


class QuietObserver:
    """An engine observer that says nothing, for tests to subclass with the hook they watch
    (sentinel.core.engine.ports.NullObserver is compiled: tests cannot subclass it)."""

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
