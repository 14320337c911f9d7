"""What the history keeps of a closed rollout (contract section 11): its state as it closed
and the expectation of that moment, from which its last view and findings are read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from sentinel.core.engine.findings import Finding
from sentinel.core.engine.ports import EngineChanges
from sentinel.core.engine.rollout import RolloutState, view_of
from sentinel.core.engine.snapshots import RolloutView
from sentinel.core.events.records import Partition
from sentinel.core.rules.expectations import Expectation

DEFAULT_HISTORY_RETENTION_S: Final = 400 * 86400.0
# The expectation of that name as loaded now (the engine's), or None when none is.
ExpectationOf = Callable[[str], Expectation | None]


# One per closed rollout. Not frozen, and an `__init__` of its own, as Finding: a frozen
# dataclass's generated `__init__` is interpreted. Never changed once built all the same.
@dataclass(slots=True, init=False)
class ClosedRollout:
    """A rollout as it closed: its state and the expectation of that moment, written as they
    are (the store's byte form of the state, the expectation's shape; `closed_rollout`); the
    view people read is made from them when it is read. Entries written before the history
    was kept small hold the view itself (`closed_with_view`)."""

    identity: tuple[str, str]  # expectation and rollout key
    opened_at: float
    closed_at: float
    findings: tuple[Finding, ...]
    home: Partition | None  # the partition that owned it (changelog mode)
    rollout: RolloutState | None  # None for an entry that kept only its view
    expectation: Expectation | None
    # The bytes, once made (sentinel.store.history_codec): the local history and, in changelog
    # mode, the history topic each write them.
    stored: bytes | None = field(default=None, repr=False, compare=False)
    _view: RolloutView | None = field(default=None, repr=False, compare=False)

    def __init__(
        self,
        rollout: RolloutState | None,
        expectation: Expectation | None,
        view: RolloutView | None,
        findings: tuple[Finding, ...],
        home: Partition | None,
    ) -> None:
        """From the rollout and its expectation, or (`closed_with_view`) from its view."""
        shown = rollout if rollout is not None else view
        if shown is None:
            raise ValueError("a history entry needs its state and expectation, or its view")
        if isinstance(shown, RolloutState):
            self.identity = (shown.expectation, shown.key)
        else:
            self.identity = (shown.expectation, shown.rollout)
        self.opened_at = shown.opened_at
        self.closed_at = shown.opened_at if shown.closed_at is None else shown.closed_at
        self.findings = findings
        self.home = home
        self.rollout = rollout
        self.expectation = expectation
        self.stored = None
        self._view = view

    @property
    def view(self) -> RolloutView:
        """The rollout's last view, with the expectation it closed under."""
        view = self._view
        if view is None:
            if self.rollout is None or self.expectation is None:
                raise ValueError("a history entry without a view needs its state and expectation")
            view = self._view = view_of(self.expectation, self.rollout)
        return view


def closed_rollout(
    rollout: RolloutState, expectation: Expectation, home: Partition | None = None
) -> ClosedRollout:
    """The entry of a rollout that closed under `expectation`; its view is made when read."""
    return ClosedRollout(rollout, expectation, None, rollout.findings, home)


def closed_with_view(
    view: RolloutView, findings: tuple[Finding, ...], home: Partition | None = None
) -> ClosedRollout:
    """An entry as the history kept it before it was kept small: the view made at the close."""
    return ClosedRollout(None, None, view, findings, home)


def closed_in(changes: EngineChanges, expectation_of: ExpectationOf) -> list[ClosedRollout]:
    """The rollouts that closed in the batch of `changes` (a closed rollout changes no more)."""
    closed = []
    for (name, _), rollout in changes.rollouts.items():
        if rollout is not None and rollout.closed_at is not None:
            expectation = expectation_of(name)
            if expectation is not None:
                closed.append(closed_rollout(rollout, expectation, rollout.home))
    return closed
