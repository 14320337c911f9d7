"""`sentinel run`: the async shell that feeds the pipeline from a source and the wall clock.

The loop fetches a batch, hands it to `Pipeline.process` (which holds the order of every
effect, the findings written to standard output among them), and commits offsets once the
store has flushed. Around that: the lag gate (partitions behind hold their rollouts'
deadlines), rebalances (state follows partitions), bus silence and the probes. Everything
here is driven through the `Source` protocol, so a fake source tests it in milliseconds;
`wiring.py` builds the real parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import CollectorRegistry

from sentinel.config import WatchSettings
from sentinel.core.durations import format_duration
from sentinel.core.engine.actions import Action, ActionRefused, Outcome, Requested
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.watermarks import Answer
from sentinel.core.errors import BusUnreachable
from sentinel.core.events.records import Partition, Record
from sentinel.core.pipeline.pipeline import Pipeline, WallClock
from sentinel.core.ports.store import StateStore
from sentinel.core.timefmt import format_rfc3339
from sentinel.runtime.action_desk import ActionDesk
from sentinel.runtime.metrics import Metrics
from sentinel.runtime.metrics_observer import MetricsObserver
from sentinel.runtime.registry_gate import NoGate, RegistryGate
from sentinel.runtime.rule_reload import RuleSet

log = logging.getLogger("sentinel.watcher")

# The loop wakes at least this often without records, and at most this early for a deadline.
MIN_WAIT_S = 0.005
COMMIT_EVERY_S = 1.0
# Joining while no broker answers: the first wait, doubled up to the longest.
JOIN_RETRY_S = 1.0
JOIN_RETRY_MAX_S = 30.0


class PartitionListener(Protocol):
    """Told about every rebalance; sources rebalance eagerly, so both get whole sets."""

    async def on_revoked(self, partitions: frozenset[Partition]) -> None: ...
    async def on_assigned(self, partitions: frozenset[Partition]) -> None: ...


class Source(Protocol):
    """Where records come from: a Kafka consumer group member (sentinel.kafka.source), or a
    fake one in the tests. Nothing is committed unless `commit` says so."""

    last_fetch_ok: float | None  # time.monotonic() of the last answer from the bus
    answered_at: float | None  # wall time of the last answer from the bus
    topics: tuple[str, ...]  # what it reads, for people
    unreachable_after: float  # no answer from the bus this long: it counts as unreachable

    @property
    def last_error(self) -> str | None:
        """What the client last complained of, to name on /readyz."""
        ...

    async def start(self, listener: PartitionListener) -> None:
        """Join; raises BusUnreachable when no broker answers (then it may be called again)."""
        ...

    async def stop(self) -> None:
        """Revoke every partition through the listener (which commits), then let go."""
        ...

    async def fetch(self, max_records: int, timeout_s: float) -> list[Record]: ...
    async def commit(self, offsets: Mapping[Partition, int]) -> bool: ...
    async def seek(self, partition: Partition, offset: int) -> None: ...
    def pause(self, partitions: Collection[Partition]) -> None: ...
    def resume(self, partitions: Collection[Partition]) -> None: ...
    async def answers(self) -> dict[Partition, Answer]: ...
    def assigned(self) -> frozenset[Partition]: ...


class Upstream(Protocol):
    """A stage that feeds the source's topics (the repartition stage), or nothing at all."""

    lagging: bool  # behind on its own input: any partition may still get a rollout's event

    async def start(self) -> None: ...
    async def run(self, stop: asyncio.Event) -> None: ...
    async def stop(self) -> None: ...


class NoUpstream:
    """The source reads the input topics themselves."""

    lagging = False

    async def start(self) -> None:
        pass

    async def run(self, stop: asyncio.Event) -> None:
        pass

    async def stop(self) -> None:
        pass


class HeldDeliveries(Protocol):
    """The alert sender, held while a batch is between its transaction and its flush."""

    def hold(self) -> None: ...
    def release(self) -> None: ...


class NoDeliveries:
    """No alert sinks configured: nothing to hold."""

    def hold(self) -> None:
        pass

    def release(self) -> None:
        pass


class HttpFace(Protocol):
    """The HTTP server (sentinel.web.http); the watcher only starts and stops it."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass
class WatcherParts:
    """Everything the watcher drives, built by sentinel.runtime.wiring (or by a test)."""

    settings: WatchSettings
    pipeline: Pipeline
    source: Source
    rules: RuleSet
    metrics: Metrics
    observer: MetricsObserver
    http: HttpFace
    upstream: Upstream = field(default_factory=NoUpstream)
    # The schema registry, when the config has one: records may wait for it.
    registry: RegistryGate | NoGate = field(default_factory=NoGate)
    # Coroutines that run beside the loop until it stops (the alert sender).
    background: Sequence[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = ()
    deliveries: HeldDeliveries = field(default_factory=NoDeliveries)
    # Extra /readyz details (alert sinks): name -> a function giving them.
    details: Mapping[str, Callable[[], Any]] = field(default_factory=dict)
    wall_clock: Callable[[], float] = time.time


class Watcher:
    """The live watcher; `run()` until SIGTERM/SIGINT or `stop()`."""

    def __init__(self, parts: WatcherParts) -> None:
        self.parts = parts
        self.settings = parts.settings
        self.pipeline = parts.pipeline
        self.engine = parts.pipeline.engine
        self.store: StateStore = parts.pipeline.store
        self.source = parts.source
        self.metrics = parts.metrics
        self._stop = asyncio.Event()
        # Never a batch while a rebalance hands partitions over or restores them; held
        # neither across a fetch nor across a commit, which may wait for that very rebalance.
        self._rebalancing = asyncio.Lock()
        self._lags: dict[Partition, int | None] = {}
        self._caught_up = False
        self._running = False
        self._next_commit = 0.0
        self._last_record_at = parts.wall_clock()
        self._silent_since: float | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._joining = False
        self._join_started: float | None = None
        self._join_error: str | None = None
        # Offsets whose batches were kept and told: what a stop may commit.
        self._told: dict[Partition, int] = {}
        # Computed when scraped: the loop may be waiting on the very broker that is gone.
        self._holding = False  # the last batch held a partition
        # On-call actions asked (`act`) and not yet in a batch; they wake the loop.
        self._desk = ActionDesk()
        parts.metrics.kafka_reachable.set_function(
            lambda: 1 if self._reachable(parts.wall_clock()) else 0
        )
        parts.metrics.deadlines_held.set_function(
            lambda: 1 if self._holding or not self._reachable(parts.wall_clock()) else 0
        )

    @property
    def registry(self) -> CollectorRegistry:
        """Where its metrics are (what /metrics serves)."""
        return self.metrics.registry

    # ---- lifecycle ------------------------------------------------------------------------

    async def run(self, handle_signals: bool = True) -> int:
        """Watch until stopped; `handle_signals=False` leaves SIGTERM/SIGINT/SIGHUP alone."""
        if handle_signals:
            self._install_signals()
        try:
            await self.open()
            while not self._stop.is_set():
                await self.step()
                self.parts.rules.check()
        finally:
            await self.close()
        log.info("stopped")
        return 0

    async def open(self) -> None:
        """Restore the state, serve HTTP, connect the store and the source (joining the group)."""
        parts = self.parts
        self._restore()
        await parts.http.start()
        log.info("watching", extra={"topics": list(self.source.topics)})
        await parts.upstream.start()
        await parts.registry.start()
        await self.store.start()
        self._tasks = [asyncio.create_task(job(self._stop)) for job in parts.background]
        await self._join()
        self._tasks.append(asyncio.create_task(parts.upstream.run(self._stop)))
        self._running = True
        self.metrics.up.set(1)

    async def _join(self) -> None:
        """Join the group, trying again while no broker answers: the probes say why meanwhile
        (the process stays up, so Kubernetes does not back off its restarts for minutes)."""
        self._joining, self._join_started = True, self.parts.wall_clock()
        self.metrics.up.set(1)
        delay = JOIN_RETRY_S
        try:
            while not self._stop.is_set():
                try:
                    await self.source.start(self)
                    self._join_error = None
                    return
                except BusUnreachable as error:
                    first = self._join_error is None
                    self._join_error = str(error)
                    log.log(
                        logging.WARNING if first else logging.DEBUG,
                        "%s; trying again every %ss at most", error, JOIN_RETRY_MAX_S,
                    )  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                delay = min(delay * 2, JOIN_RETRY_MAX_S)
        finally:
            self._joining = False

    async def close(self) -> None:
        """Stop the tasks beside the loop, hand the partitions back (committing), let go."""
        self._running = False
        self.metrics.up.set(0)
        self._stop.set()
        await asyncio.gather(*self._tasks)
        await self._desk.close()
        try:
            # Revokes every partition first: `on_revoked` commits what was told.
            await self.source.stop()
        except Exception:  # the broker may be gone; the store still has the offsets
            log.warning("final commit failed; records will be read again", exc_info=True)
        await self.parts.upstream.stop()
        await self.parts.registry.stop()
        await self.parts.http.stop()
        await self.store.stop()
        self.store.close()

    def stop(self) -> None:
        """Stop taking records; the current batch is finished and committed."""
        self._stop.set()

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.parts.rules.request)

    def _restore(self) -> None:
        state = self.pipeline.restore()
        self.parts.observer.recount(self.engine)
        if state.rollouts:
            log.info("state restored", extra={"rollouts": len(state.rollouts)})

    # ---- on-call actions -------------------------------------------------------------------

    async def act(self, expectation: str, key: str, action: Action) -> Outcome:
        """Take an on-call action on a rollout this replica holds (contract section 14): it
        goes into the loop's next batch, which starts at once (the loop is woken, no record
        is needed), and the answer comes once that batch is kept: applied (with the
        rollout's actions) or refused (why, and nothing changed)."""
        asked = Requested(expectation, key, action)
        if not self._running and not self._joining:
            return Outcome(asked, ActionRefused("the sentinel is not running: try again soon"))
        return await self._desk.ask(asked)

    # ---- one batch ------------------------------------------------------------------------

    async def step(self) -> int:
        """Fetch one batch and see it through; the number of records fetched."""
        settings = self.settings
        records = await self._desk.fetch(self.source.fetch, settings.max_batch, self._wait_s)
        async with self._rebalancing:
            acts, asked = self._desk.take()
            now = self.parts.wall_clock()
            owned = self.source.assigned()
            # Fetched before a rebalance: another replica reads these now.
            mine = [record for record in records if record.partition in owned]
            held, answers = await self._held(backlog=len(records) >= settings.max_batch)
            # Alerts are sent only once the state that raised them is where the next owner of
            # their partition will look (the changelog): a replica killed after sending leaves
            # nothing for its successor to raise a second time. Standard output cannot wait:
            # the pipeline writes a batch's findings before it commits (its `output`).
            self.parts.deliveries.hold()
            try:
                silence = self._silence(now, records)
                kept = self.pipeline.process(mine, WallClock(now), held, silence, answers, acts)
                await self.parts.registry.hold(
                    kept.waiting, kept.needs, self.source, self.pipeline.positions
                )
                await self.store.flush()
            except BaseException:
                self._desk.refuse(asked, "the batch that took it failed: try again")
                raise
            finally:
                self.parts.deliveries.release()
            self._desk.answer(asked, kept.acted)
            self.metrics.pending_deadlines.set(self.engine.pending_deadlines)
            # Only now may a stop commit them: a failure before this point leaves the batch
            # to be read again (in memory, nothing else would bring its findings back).
            self._told.update(kept.offsets)
        # Committing is a broker round trip: at most once per COMMIT_EVERY_S while records
        # flow. Until then the store holds the offsets, and a crash re-reads a little more.
        # A commit to a broker that does not answer would wait out its timeout, and the loop
        # with it.
        reachable = self._reachable(self.parts.wall_clock())
        if records and time.monotonic() >= self._next_commit and reachable:
            await self.source.commit(self._told)
            self._next_commit = time.monotonic() + COMMIT_EVERY_S
        return len(records)

    def _wait_s(self) -> float:
        """Sleep in fetch until the next deadline is due, at most one tick."""
        wait = min(self.settings.tick, self.engine.deadlines.next_due - self.parts.wall_clock())
        return max(MIN_WAIT_S, wait)

    async def _held(self, backlog: bool) -> tuple[frozenset[Partition], dict[Partition, Answer]]:
        """Partitions too far behind to let their rollouts' deadlines fire, and the broker's
        last answers (for the watermarks); on the way, whether it answers at all."""
        answers = await self.source.answers()
        self._lags = {partition: answer.lag for partition, answer in answers.items()}
        if self.source.answered_at is not None:
            self.metrics.last_fetch.set(self.source.answered_at)
        held = set()
        for partition, lag in self._lags.items():
            if lag is not None:
                self.metrics.consumer_lag.labels(partition.topic, str(partition.number)).set(lag)
            # A full batch means a backlog whatever the last lag said: hold until it drains.
            if lag is None or lag > self.settings.lag_threshold or backlog:
                held.add(partition)
        if self.parts.upstream.lagging:
            held.update(self._lags)
        # Waiting for the registry counts as behind: the records after it may be on time.
        held.update(self.parts.registry.waiting)
        if self._lags and not held:
            self._caught_up = True
        # Unreachable, nothing is proven caught up: the watermarks hold every deadline.
        self._holding = bool(held)
        self.metrics.ready.set(1 if self._is_ready() else 0)
        return frozenset(held), answers

    def _reachable(self, now: float) -> bool:
        last = self.source.answered_at
        if last is None:
            last = self._join_started if self._join_started is not None else now
        return now - last <= self.source.unreachable_after

    def _bus_status(self) -> dict[str, Any]:
        """/readyz's word on the bus: reachable or not, since when, and the client's last error."""
        now = self.parts.wall_clock()
        last = self.source.answered_at
        reachable = self._running and self._reachable(now)
        status: dict[str, Any] = {"reachable": reachable}
        if not reachable:
            since = last if last is not None else self._join_started
            status["since"] = None if since is None else format_rfc3339(since)
            status["error"] = (
                self._join_error or self.source.last_error or ("no answer from the broker")
            )
        return status

    def _silence(self, now: float, records: Sequence[Record]) -> list[Finding]:
        """No record at all for `bus_silence`: the sentinel says it cannot see anything."""
        if records:
            self._last_record_at = now
            self.metrics.last_event.set(now)
            if self._silent_since is not None:
                log.info("the bus is talking again")
                self._silent_since = None
                self.metrics.bus_silent.set(0)
            return []
        limit = self.settings.bus_silence
        if limit is None or self._silent_since is not None or now - self._last_record_at <= limit:
            return []
        self._silent_since = now
        self.metrics.bus_silent.set(1)
        quiet = format_duration(now - self._last_record_at)
        topics = ", ".join(self.source.topics)
        return [Finding(Kind.BUS_SILENT, now, reason=f"no record on {topics} for {quiet}")]

    # ---- partitions -----------------------------------------------------------------------

    async def on_revoked(self, partitions: frozenset[Partition]) -> None:
        async with self._rebalancing:
            # The store first: the next owner restores from it, then reads from the commit.
            await self.store.revoke(partitions)
            mine = {p: self._told.pop(p) for p in partitions if p in self._told}
            if mine:
                await self.source.commit(mine)
            self.parts.registry.forget(partitions)
            if self.pipeline.watermarks is not None:
                self.pipeline.watermarks.revoke(partitions)
            dropped = self.engine.forget_feeds(partitions)
            self.parts.observer.recount(self.engine)
            for partition in partitions:
                if self._lags.pop(partition, None) is not None:
                    self.metrics.consumer_lag.remove(partition.topic, str(partition.number))
            self._caught_up = False
            log.info(
                "partitions revoked", extra={"partitions": _names(partitions), "rollouts": dropped}
            )

    async def on_assigned(self, partitions: frozenset[Partition]) -> None:
        async with self._rebalancing:
            await self.store.assign(partitions)
            state = self.pipeline.restore(partitions)
            if self.pipeline.watermarks is not None:
                self.pipeline.watermarks.assign(partitions)
            self.parts.observer.recount(self.engine)
            for partition, offset in state.offsets.items():
                # The store is the truth about what was applied: forward past records whose
                # commit was lost, back over batches a power loss took from the file.
                await self.source.seek(partition, offset)
            self._caught_up = False
            log.info(
                "partitions assigned",
                extra={"partitions": _names(partitions), "rollouts": len(state.rollouts)},
            )

    # ---- probes ---------------------------------------------------------------------------

    def _is_ready(self) -> bool:
        running = self._running and bool(self.source.assigned())
        reachable = self._reachable(self.parts.wall_clock())
        return running and reachable and self._caught_up and self.parts.registry.ready()

    def health(self) -> tuple[bool, dict[str, Any]]:
        """/healthz: the loop runs (or waits for the bus to answer at all) and the consumer
        still gets answers from the bus."""
        last = self.source.last_fetch_ok
        stuck = last is not None and time.monotonic() - last > self.settings.fetch_watchdog
        alive = self._running or self._joining
        return alive and not stuck, {"loop": alive, "consumer_stuck": stuck}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """/readyz: partitions held and caught up; what each part says of itself."""
        details: dict[str, Any] = {
            "kafka": self._bus_status(),
            "partitions": len(self.source.assigned()),
            "caught_up": self._caught_up,
            "lags": {str(p): lag for p, lag in sorted(self._lags.items())},
        }
        registry = self.parts.registry.status()
        if registry:
            details["registry"] = registry
        for name, detail in self.parts.details.items():
            details[name] = detail()
        return self._is_ready(), details


def _names(partitions: Collection[Partition]) -> list[str]:
    return sorted(str(partition) for partition in partitions)
