"""The schema registry beside the watcher's loop: records that need a schema not read yet wait
(their partition paused and held) while the registry is asked, in the background, with
back-off while it is down; nothing is skipped and nothing guessed (contract section 10)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any, Protocol

from sentinel.core.engine.writer_schemas import Need
from sentinel.core.events.records import Partition
from sentinel.registry.cache import SchemaCache
from sentinel.registry.failures import RegistryUnavailable
from sentinel.registry.lookup import RegistryWriters
from sentinel.registry.settings import RegistrySettings
from sentinel.runtime.metrics import Metrics

log = logging.getLogger("sentinel.registry")


class Pausable(Protocol):
    """What the gate needs of the source."""

    async def seek(self, partition: Partition, offset: int) -> None: ...
    def pause(self, partitions: Collection[Partition]) -> None: ...
    def resume(self, partitions: Collection[Partition]) -> None: ...


class NoGate:
    """No registry: nothing ever waits for one."""

    waiting: Mapping[Partition, int] = {}

    async def start(self) -> None:
        pass

    async def hold(
        self,
        waiting: Mapping[Partition, int],
        needs: Sequence[Need],
        source: Pausable,
        positions: Mapping[Partition, int],
    ) -> None:
        pass

    def forget(self, partitions: Collection[Partition]) -> None:
        pass

    def ready(self) -> bool:
        return True

    def status(self) -> dict[str, Any]:
        return {}

    async def stop(self) -> None:
        pass


class RegistryGate:
    """Holds partitions whose next record waits for the registry, and asks it until it answers."""

    def __init__(self, writers: RegistryWriters, metrics: Metrics) -> None:
        self.writers = writers
        self.cache: SchemaCache = writers.cache
        self._metrics = metrics
        self.waiting: dict[Partition, int] = {}  # partition -> the offset it waits at
        self._needs: list[Need] = []
        self._source: Pausable | None = None
        self._asking: asyncio.Task[None] | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self._probing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """One request, to know from the start whether the registry answers (never fatal)."""
        try:
            await self.cache.probe()
        except RegistryUnavailable as error:
            log.warning("the schema registry does not answer yet: %s", error)
        self._note_up()

    async def hold(
        self,
        waiting: Mapping[Partition, int],
        needs: Sequence[Need],
        source: Pausable,
        positions: Mapping[Partition, int],
    ) -> None:
        """After a batch: pause the partitions that stopped at a record, from that record, and
        make sure the registry is being asked; refresh subjects due, without holding anyone.

        A partition stays held (its deadlines wait) until the pipeline read past the record
        it waited at (`positions`): resumed is not yet caught up.
        """
        self._source = source
        for partition, offset in list(self.waiting.items()):
            if partition not in waiting and positions.get(partition, -1) > offset:
                del self.waiting[partition]
        for partition, offset in waiting.items():
            await source.seek(partition, offset)
            self.waiting[partition] = offset
        if waiting:
            source.pause(list(waiting))
            self._needs += needs
            if self._asking is None or self._asking.done():
                self._asking = asyncio.create_task(self._ask_until_answered())
        due, self.writers.due = self.writers.due, set()
        if due and (self._refreshing is None or self._refreshing.done()):
            self._refreshing = asyncio.create_task(self._refresh(due))

    def forget(self, partitions: Collection[Partition]) -> None:
        """Partitions revoked: their next owner reads them, and waits itself if it must."""
        for partition in partitions:
            self.waiting.pop(partition, None)

    def ready(self) -> bool:
        """Not ready while the registry does not answer (`/readyz` says why)."""
        return self.cache.up

    def status(self) -> dict[str, Any]:
        """For `/readyz`: the registry, whether it answers, why not, and who waits for it."""
        return {
            "url": self.cache.settings.url,
            "up": self.cache.up,
            "error": self.cache.last_error,
            "waiting": sorted(str(partition) for partition in self.waiting),
        }

    async def stop(self) -> None:
        for task in (self._asking, self._refreshing, self._probing):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.cache.close()

    async def _ask_until_answered(self) -> None:
        """Ask for what the waiting records need; while the registry is down, again after a
        jittered, growing pause. Then let the partitions read again."""
        pauses = _pauses(self.cache.settings)
        while self._needs:
            needs, self._needs = self._needs, []
            try:
                await self.cache.fetch(
                    [need.ref for need in needs if need.ref is not None],
                    [need.subject for need in needs if need.subject is not None],
                )
            except RegistryUnavailable as error:
                self._needs = needs + self._needs
                self._note_up()
                log.warning(
                    "records wait for the schema registry",
                    extra={"error": str(error), "partitions": sorted(map(str, self.waiting))},
                )
                await asyncio.sleep(next(pauses))
                continue
            self._note_up()
            if not self._needs:
                if self._source is not None:
                    self._source.resume(list(self.waiting))
                return

    async def _refresh(self, subjects: set[str]) -> None:
        try:
            await self.cache.fetch(subjects=subjects)
        except RegistryUnavailable as error:
            log.info("a subject's latest version was not read again: %s", error)
        self._note_up()

    def _note_up(self) -> None:
        # Read when scraped, as /readyz reads it: set here, it lagged behind while requests
        # asked together were still out (a 503 on /readyz with the gauge still at 1).
        cache = self.cache
        self._metrics.schema_registry_up().set_function(lambda: 1 if cache.up else 0)
        # Down, it is asked again until it answers: otherwise only a record that needs it
        # would ask, and on a quiet bus /readyz stayed 503 after a single slow answer. Not
        # while records wait for it: their own requests are already asking.
        asking = self._asking is not None and not self._asking.done()
        if not cache.up and not asking and (self._probing is None or self._probing.done()):
            self._probing = asyncio.create_task(self._probe_until_answered())

    async def _probe_until_answered(self) -> None:
        """One cheap request after each pause, until the registry answers."""
        pauses = _pauses(self.cache.settings)
        while not self.cache.up:
            await asyncio.sleep(next(pauses))
            try:
                await self.cache.probe()
            except RegistryUnavailable:
                continue
            log.info("the schema registry answers")


def _pauses(settings: RegistrySettings) -> Iterator[float]:
    """Pauses between requests to a registry that does not answer: jittered, each up to twice
    the one before, from `backoff` to `backoff_max`."""
    pause = settings.backoff
    while True:
        yield random.uniform(pause / 2, pause)
        pause = min(pause * 2, settings.backoff_max)
