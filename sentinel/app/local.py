"""What this replica knows, in the rollout API's shapes: its open rollouts (the engine), the
closed ones of the history (the store) and its recent findings (the live feed).

The HTTP server runs on the watcher's event loop and the pipeline is synchronous, so every
read here sees whole batches: nothing awaits between reading the engine and answering.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from sentinel.app.feed import LiveFeed
from sentinel.engine import Engine
from sentinel.errors import StoreError
from sentinel.expectations import Expectation
from sentinel.status.api import full, summary
from sentinel.status.filters import (
    MAX_LIMIT,
    FindingQuery,
    RolloutQuery,
    admits,
    select_findings,
    select_rollouts,
)
from sentinel.storage import StateStore
from sentinel.views import Phase

log = logging.getLogger("sentinel.api")

_OPEN = (Phase.OPEN, Phase.ROLLING_BACK)


class Replica:
    """This replica's rollouts and findings, as the API and the board show them."""

    def __init__(
        self,
        engine: Engine,
        store: StateStore,
        feed: LiveFeed,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._store = store
        self._feed = feed
        self._wall_clock = wall_clock

    @property
    def clock(self) -> float:
        """The engine's clock; the wall clock before it has read anything."""
        clock = self._engine.clock
        return clock if math.isfinite(clock) else self._wall_clock()

    @property
    def expectations(self) -> list[Expectation]:
        return list(self._engine.expectations.values())

    def expectation(self, name: str) -> Expectation | None:
        return self._engine.expectations.get(name)

    async def rollouts(self, query: RolloutQuery) -> list[Mapping[str, Any]]:
        """Summaries that pass the filters, newest opened first; closed ones from the
        history, at most `limit` (or MAX_LIMIT) of them."""
        chosen = [] if query.phase == "closed" else self._open(query)
        if query.wants_history:
            await self._refresh()
            chosen += self._closed(query)
        return select_rollouts(chosen, query)

    async def rollout(self, expectation: str, key: str) -> dict[str, Any] | None:
        """One rollout in full, open or in the history; None when this replica has neither."""
        state = self._engine.rollouts.get(expectation, {}).get(key)
        view = self._engine.view(expectation, key)
        if state is not None and view is not None:
            return full(view, state.findings)
        await self._refresh()
        entry = self._store.closed_rollout(expectation, key)
        return None if entry is None else full(entry.view, entry.findings)

    def findings(self, query: FindingQuery) -> list[Mapping[str, Any]]:
        recent = self._feed.recent.newest(query.limit, query.since)
        return select_findings([finding.to_json_dict() for finding in recent], query)

    def _open(self, query: RolloutQuery) -> list[Mapping[str, Any]]:
        engine = self._engine
        names = [query.expectation] if query.expectation else list(engine.rollouts)
        states = [
            state
            for name in names
            for state in engine.rollouts.get(name, {}).values()
            if state.phase in _OPEN
        ]
        # The order of `select_rollouts`, so that `limit` can stop early.
        states.sort(key=lambda state: (-state.opened_at, state.expectation, state.key))
        chosen: list[Mapping[str, Any]] = []
        for state in states:
            view = engine.view(state.expectation, state.key)
            if view is not None and admits(shown := summary(view), query):
                chosen.append(shown)
                if len(chosen) == query.limit:
                    break
        return chosen

    def _closed(self, query: RolloutQuery) -> list[Mapping[str, Any]]:
        wanted = query.limit or MAX_LIMIT
        chosen: list[Mapping[str, Any]] = []
        for entry in self._store.history(query.expectation):
            if admits(shown := summary(entry.view), query):
                chosen.append(shown)
                if len(chosen) == wanted:
                    break
        return chosen

    async def _refresh(self) -> None:
        """What other replicas closed (changelog mode); without it, what the file has."""
        try:
            await self._store.refresh_history()
        except StoreError as error:
            log.warning("history not refreshed", extra={"error": str(error)})
