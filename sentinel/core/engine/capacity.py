"""How many rollouts are open, checked against `limits:` when one would open, and the
`capacity` finding that says a bound refused one. Pure: the engine asks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.limits import Limits
from sentinel.core.engine.ports import EngineObserver
from sentinel.core.engine.rollout import RolloutState
from sentinel.core.engine.snapshots import Phase
from sentinel.core.events.envelope import Envelope


class OpenCount:
    """How many rollouts are open, per expectation and in all."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._by_expectation: dict[str, int] = {}
        self._total = 0
        # (expectation, bound) said to bite since the engine last pruned (once a minute).
        self.told: set[tuple[str, str]] = set()

    def refuses(
        self,
        expectation: str,
        event: Envelope,
        clock: float,
        observer: EngineObserver,
        findings: list[Finding],
    ) -> bool:
        """Whether a bound keeps `event` from opening a rollout of `expectation`: counted
        each time, said (a `capacity` finding) once per bound until `told` is cleared."""
        limits = self.limits
        bound = None
        if self._by_expectation.get(expectation, 0) >= limits.open_rollouts_per_expectation:
            bound = f"open_rollouts_per_expectation ({limits.open_rollouts_per_expectation:,})"
        elif self._total >= limits.open_rollouts:
            bound = f"open_rollouts ({limits.open_rollouts:,})"
        if bound is None:
            return False
        observer.capacity_reached(bound.partition(" ")[0], expectation)
        if (expectation, bound) not in self.told:
            self.told.add((expectation, bound))
            findings.append(refused(expectation, bound, event, clock))
        return True

    def opened(self, expectation: str) -> None:
        self._by_expectation[expectation] = self._by_expectation.get(expectation, 0) + 1
        self._total += 1

    def closed(self, expectation: str) -> None:
        self._by_expectation[expectation] = self._by_expectation.get(expectation, 1) - 1
        self._total -= 1

    def recount(self, rollouts: Mapping[str, Mapping[str, RolloutState]]) -> None:
        """From scratch, after rollouts came or went in bulk (a restore, a rebalance)."""
        self._by_expectation = {
            name: _open_in(by_key.values()) for name, by_key in rollouts.items()
        }
        self._total = sum(self._by_expectation.values())


def _open_in(rollouts: Iterable[RolloutState]) -> int:
    return sum(1 for rollout in rollouts if rollout.phase in (Phase.OPEN, Phase.ROLLING_BACK))


def refused(expectation: str, bound: str, event: Envelope, clock: float) -> Finding:
    """The `capacity` finding of a rollout `bound` did not let open (its id: once per bound)."""
    reason = (
        f"open rollouts at their bound limits.{bound}: new rollouts of {expectation} are not"
        " watched until some close"
    )
    return Finding(
        Kind.CAPACITY, clock, expectation=expectation, reason=reason,
        event_type=event.type, event_id=event.id, event_source=event.source,
    )  # fmt: skip
