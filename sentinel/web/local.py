"""What this replica knows, in the rollout API's shapes: its open rollouts (the engine), the
closed ones of the history (the store) and its recent findings (the live feed).

The HTTP server runs on the watcher's event loop, between batches. A list never holds the loop
for long (issue 22): the page is chosen from the rollouts' state by cheap checks, CHUNK
rollouts at a time with the loop free in between, and views are built only for the page, a
few hundred at a time. Each row is a whole batch's; the rows of one page may be of
consecutive batches.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from operator import itemgetter
from typing import Any

from sentinel.core.engine.actions import Action, ActionRefused, Outcome, Requested
from sentinel.core.engine.engine import Engine
from sentinel.core.engine.rollout import RolloutState
from sentinel.core.errors import StoreError
from sentinel.core.ports.store import StateStore
from sentinel.core.rules.expectations import Expectation
from sentinel.status.api_json import full, summary
from sentinel.status.filters import (
    FindingQuery,
    Page,
    RolloutQuery,
    admits,
    select_findings,
)
from sentinel.status.paging import (
    HISTORY_WINDOW,
    OpenChoice,
    OpenRollouts,
    SortKey,
    encode_cursor,
    epoch_ms,
    summary_key,
)
from sentinel.status.trace_links import TraceLinks, links_of
from sentinel.web.feed import LiveFeed

log = logging.getLogger("sentinel.api")

# Work done between two turns of the loop, about a millisecond each (pure Python): open
# rollouts looked at, history entries read, views built.
CHUNK = 1_000
HISTORY_CHUNK = 50
VIEW_CHUNK = 50


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
        # Takes an on-call action into the loop's next batch (the watcher's `act`, set by the
        # wiring); None: this process takes none (no live loop).
        self.actor: Callable[[str, str, Action], Awaitable[Outcome]] | None = None
        # One list is chosen at a time: a turn of the loop holds one chunk, however many
        # lists are asked for at once (the others wait their turn, the probes do not).
        self._listing = asyncio.Lock()

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

    @property
    def links(self) -> TraceLinks | None:
        """Links to traces (`tracing.trace_url`), ending open rollouts' at this clock."""
        return links_of(self._engine.tracing.url, self.clock)

    async def rollouts(self, query: RolloutQuery) -> Page:
        """The page the query asks for (`paging`'s order): open rollouts from the engine,
        closed ones from the newest HISTORY_WINDOW of the history."""
        if query.wants_history:
            await self._refresh()
        keyed: list[tuple[SortKey, RolloutState | Mapping[str, Any]]] = []
        total: int | None = None
        with_problems = 0
        async with self._listing:
            if query.phase != "closed":
                found, total, with_problems = await self._open(query)
                keyed += found
            if query.wants_history:
                keyed += await self._closed(query)
                total = None  # the history is not counted
            keyed.sort(key=itemgetter(0))
            chosen = keyed[: query.limit]
            rows = await self._rows([item for _, item in chosen])
        more = len(keyed) > query.limit
        return Page(rows, total, with_problems, encode_cursor(chosen[-1][0]) if more else None)

    async def rollout(self, expectation: str, key: str) -> dict[str, Any] | None:
        """One rollout in full, open or in the history; None when this replica has neither."""
        state = self._engine.rollouts.get(expectation, {}).get(key)
        view = self._engine.view(expectation, key)
        if state is not None and view is not None:
            return full(view, state.findings, self.links)
        await self._refresh()
        entry = self._store.closed_rollout(expectation, key)
        return None if entry is None else full(entry.view, entry.findings, self.links)

    def now(self) -> float:
        """The wall clock: when a person acts."""
        return self._wall_clock()

    def holds(self, expectation: str, key: str) -> bool:
        """The rollout is in this replica's engine (open, or closed and not yet forgotten)."""
        return key in self._engine.rollouts.get(expectation, {})

    async def act(self, expectation: str, key: str, action: Action) -> Outcome:
        """Take an on-call action on a rollout this replica holds (contract section 14): the
        answer comes once the batch that took it is kept; refused (why, nothing changed)
        when the rollout is not held here or cannot take it."""
        if self.actor is None:
            refused = ActionRefused("this sentinel takes no actions: it runs no live loop")
            return Outcome(Requested(expectation, key, action), refused)
        return await self.actor(expectation, key, action)

    def findings(self, query: FindingQuery) -> list[Mapping[str, Any]]:
        recent = self._feed.recent.newest(query.limit, query.since)
        return select_findings([finding.to_json_dict() for finding in recent], query)

    async def _open(
        self, query: RolloutQuery
    ) -> tuple[list[tuple[SortKey, RolloutState]], int, int]:
        """The first `limit + 1` open rollouts after `after` that pass the filters, how many
        pass them in all and how many of those need someone; no view is built."""
        engine = self._engine
        choice = OpenChoice(query.limit + 1, query.problem, query.search, query.after)
        for exp in list(engine.expectations.values()):
            rollouts = OpenRollouts(exp)
            if query.expectation not in (None, exp.name) or (
                query.owner is not None and query.owner not in rollouts.owners
            ):
                continue
            states = list(engine.rollouts.get(exp.name, {}).values())
            states.reverse()  # opened last first, mostly: the page fills at once
            for start in range(0, len(states), CHUNK):
                await asyncio.sleep(0)  # what else waits for the loop (a probe) goes first
                choice.add(rollouts, states[start : start + CHUNK])
        return choice.chosen(), choice.total, choice.with_problems

    async def _closed(self, query: RolloutQuery) -> list[tuple[SortKey, Mapping[str, Any]]]:
        """The first `limit + 1` closed rollouts after `after` that pass the filters, from the
        history read newest opened first, at most HISTORY_WINDOW entries of it."""
        wanted = query.limit + 1
        found: list[tuple[SortKey, Mapping[str, Any]]] = []
        enough_at: int | None = None  # opened (ms) of the `wanted`-th found
        links = self.links
        for read, entry in enumerate(self._store.history(query.expectation), start=1):
            if read > HISTORY_WINDOW:
                break
            if read % HISTORY_CHUNK == 0:
                await asyncio.sleep(0)
            opened = epoch_ms(entry.view.opened_at)
            if enough_at is not None and opened < enough_at:
                break  # everything older comes after what was found
            shown = summary(entry.view, links)
            if not admits(shown, query):
                continue
            key = summary_key(shown)
            if query.after is None or key > query.after:
                found.append((key, shown))
                if len(found) == wanted:
                    enough_at = opened
        return found

    async def _rows(
        self, chosen: list[RolloutState | Mapping[str, Any]]
    ) -> list[Mapping[str, Any]]:
        """The summaries of the page: the views of open rollouts built now, VIEW_CHUNK at a
        time; one that closed and was forgotten meanwhile is left out."""
        rows: list[Mapping[str, Any]] = []
        links = self.links
        for index, item in enumerate(chosen):
            if index and index % VIEW_CHUNK == 0:
                await asyncio.sleep(0)
            if isinstance(item, RolloutState):
                view = self._engine.view(item.expectation, item.key)
                if view is not None:
                    rows.append(summary(view, links))
            else:
                rows.append(item)
        return rows

    async def _refresh(self) -> None:
        """What other replicas closed (changelog mode); without it, what the file has."""
        try:
            await self._store.refresh_history()
        except StoreError as error:
            log.warning("history not refreshed", extra={"error": str(error)})
