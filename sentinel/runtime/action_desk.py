"""Where on-call actions wait for the live loop (contract section 14): each is asked with a
future its asker awaits, the loop is woken from its wait for records, and the next batch
takes every action asked so far and answers each once the batch is kept."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

from sentinel.core.engine.actions import ActionRefused, Outcome, Requested
from sentinel.core.events.records import Record

Asked = list[tuple[Requested, "asyncio.Future[Outcome]"]]


class ActionDesk:
    """The actions asked and not yet in a batch, and the fetch an action interrupted."""

    def __init__(self) -> None:
        self._asked: Asked = []
        self._wake = asyncio.Event()
        # A fetch still running when an action woke the loop: the next step takes its records.
        self._fetching: asyncio.Task[list[Record]] | None = None

    async def ask(self, requested: Requested) -> Outcome:
        """Wait for the batch that takes `requested` to be kept, and say what became of it."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._asked.append((requested, future))
        self._wake.set()
        return await future

    async def fetch(
        self,
        fetch: Callable[[int, float], Awaitable[list[Record]]],
        max_records: int,
        wait_s: Callable[[], float],
    ) -> list[Record]:
        """The records of `fetch(max_records, wait_s())` (or of the fetch an action interrupted
        before), or none as soon as an action is asked: a click never waits for a tick. The
        fetch goes on, and its records come with the next call."""
        if self._fetching is None:
            self._fetching = asyncio.ensure_future(fetch(max_records, wait_s()))
        if not self._asked:
            self._wake.clear()
            woken = asyncio.create_task(self._wake.wait())
            try:
                await asyncio.wait({self._fetching, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                woken.cancel()
        if not self._fetching.done():
            return []
        fetching, self._fetching = self._fetching, None
        return fetching.result()

    def take(self) -> tuple[list[Requested], Asked]:
        """Every action asked so far, for the batch about to start (and their askers)."""
        asked, self._asked = self._asked, []
        return [requested for requested, _ in asked], asked

    @staticmethod
    def answer(asked: Asked, outcomes: Sequence[Outcome]) -> None:
        """The batch that took `asked` is kept: each asker learns what became of its action."""
        for (_, future), outcome in zip(asked, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)

    @staticmethod
    def refuse(asked: Asked, why: str) -> None:
        """None of `asked` was taken (and nothing of it kept): each asker learns why."""
        for requested, future in asked:
            if not future.done():
                future.set_result(Outcome(requested, ActionRefused(why)))

    async def close(self) -> None:
        """The loop stops: the interrupted fetch is dropped, every waiting asker refused."""
        fetching, self._fetching = self._fetching, None
        if fetching is not None:
            fetching.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await fetching
        self.refuse(self.take()[1], "the sentinel is stopping: the action was not taken, try again")
