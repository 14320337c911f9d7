"""`sentinel run`: the live watcher that feeds the engine from Kafka and the wall clock.

One loop, one batch at a time: fetch records, apply them, let the wall clock fire the
deadlines that passed (unless a lagging partition holds them), keep the effects (state store,
alert outbox), write the findings, and only then commit the offsets. Everything it calls
into is either pure (the engine) or a thin adapter (Kafka, HTTP, store, alerting).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aiokafka.errors import KafkaConnectionError
from prometheus_client import CollectorRegistry

from sentinel.app.http import HttpServer
from sentinel.app.logs import configure_logging
from sentinel.app.metrics import Metrics
from sentinel.app.observer import MetricsObserver
from sentinel.app.rules import Rules, fingerprint, load_rules
from sentinel.config import Config, load_config
from sentinel.durations import format_duration
from sentinel.engine import Engine
from sentinel.envelope import Envelope, from_kafka
from sentinel.errors import ExpectationFileError, SchemaDirError, SentinelError
from sentinel.findings import Finding, Kind
from sentinel.kafka.repartition import Repartitioner, scope_of
from sentinel.kafka.source import (
    KafkaSource,
    Partition,
    Record,
    ensure_topic,
    merged_by_time,
    topic_partitions,
)
from sentinel.store.base import StateStore
from sentinel.store.batches import feed_name
from sentinel.store.changelog import ChangelogStore
from sentinel.store.open import open_store

if TYPE_CHECKING:  # imported for real only when alerting is configured
    from sentinel.alerting.alerter import Alerter

log = logging.getLogger("sentinel.watcher")

EXIT_OK, EXIT_UNREACHABLE, EXIT_CONFIG = 0, 1, 2
# The loop wakes at least this often without records, and at most this early for a deadline.
MIN_WAIT_S = 0.005
COMMIT_EVERY_S = 1.0


def run_from_config(path: Path) -> int:
    """The `sentinel run --config FILE` command: exit 0 after a clean stop, 2 on bad files."""
    try:
        config = load_config(path)
    except SentinelError as error:
        print(f"sentinel: {error}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(config.log.level)
    try:
        watcher = Watcher(config)
    except (ExpectationFileError, SchemaDirError) as error:
        print(error, file=sys.stderr)
        return EXIT_CONFIG
    except SentinelError as error:
        print(f"sentinel: {error}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        return asyncio.run(watcher.run())
    except KafkaConnectionError as error:
        servers = ",".join(config.kafka.bootstrap_servers)
        print(f"sentinel: cannot reach Kafka at {servers}: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except SentinelError as error:  # e.g. an internal topic that cannot be created
        print(f"sentinel: {error}", file=sys.stderr)
        return EXIT_CONFIG


class LineSink(Protocol):
    """Where findings go as JSON lines: standard output, or the demo's readable printer."""

    def write(self, text: str, /) -> int: ...
    def flush(self) -> None: ...


@dataclass
class _Progress:
    """What the loop knows about the bus between batches."""

    offsets: dict[Partition, int] = field(default_factory=dict)  # next offset, not committed
    lags: dict[Partition, int | None] = field(default_factory=dict)
    caught_up: bool = False
    last_record_at: float = 0.0  # wall clock
    silent_since: float | None = None


class Watcher:
    """The live watcher; `run()` until SIGTERM/SIGINT or `stop()`."""

    def __init__(
        self,
        config: Config,
        *,
        out: LineSink | None = None,
        registry: CollectorRegistry | None = None,
        rules_loader: Callable[[], Rules] | None = None,
        wall_clock: Callable[[], float] = time.time,
        store: StateStore | None = None,
    ) -> None:
        self.config = config
        self.out: LineSink = out if out is not None else sys.stdout
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.wall_clock = wall_clock
        self._load_rules = rules_loader or (lambda: load_rules(config.expectations, config.schemas))
        rules = self._load_rules()
        self._rules_fingerprint = self._fingerprint()
        self.observer = MetricsObserver(self.metrics, rules.known_types)
        self.engine = Engine(
            rules.expectations,
            rules.schemas,
            self.observer,
            retention_s=config.watch.closed_retention,
        )
        self.store = store if store is not None else open_store(config)
        self.alerter = _build_alerter(config, self.store, self.metrics)
        self.repartitioner: Repartitioner | None = None
        engine_kafka = config.kafka
        if config.state.mode == "changelog" and not config.kafka.input_keyed_by_rollout:
            target = f"{config.kafka.group_id}-repartition"
            self.repartitioner = Repartitioner(
                config.kafka, target, lambda: tuple(self.engine.expectations.values())
            )
            engine_kafka = dataclasses.replace(config.kafka, topics=(target,))
        self.source = KafkaSource(engine_kafka, listener=self)
        self.http = HttpServer(
            config.http.host, config.http.port, self.registry, self._health, self._readiness
        )
        self._progress = _Progress(last_record_at=wall_clock())
        self._stop = asyncio.Event()
        self._reload_requested = False
        self._rebalancing = asyncio.Lock()
        # Per partition, the first offset not yet applied as of its assignment (the store's).
        self._floor: dict[Partition, int] = {}
        self._next_commit = 0.0
        self._running = False
        self._note_rules(rules)

    # ---- lifecycle ------------------------------------------------------------------------

    async def run(self, handle_signals: bool = True) -> int:
        """Watch until stopped; `handle_signals=False` leaves SIGTERM/SIGINT/SIGHUP alone."""
        self._restore()
        await self.http.start()
        if handle_signals:
            self._install_signals()
        log.info(
            "watching",
            extra={"topics": list(self.config.kafka.topics), "listen": self.config.http.listen},
        )
        sender = asyncio.create_task(self.alerter.run_sender(self._stop)) if self.alerter else None
        stage_one = None
        try:
            stage_one = await self._start_kafka()
            self._running = True
            self.metrics.up.set(1)
            next_reload_check = time.monotonic() + self.config.watch.reload_poll
            while not self._stop.is_set():
                await self._step()
                if self._reload_requested or time.monotonic() >= next_reload_check:
                    self._maybe_reload(forced=self._reload_requested)
                    next_reload_check = time.monotonic() + self.config.watch.reload_poll
        finally:
            self._running = False
            self.metrics.up.set(0)
            self._stop.set()
            if stage_one is not None:
                await stage_one
            if self.repartitioner is not None:
                await self.repartitioner.stop()
            await self._shutdown(sender)
        log.info("stopped")
        return EXIT_OK

    async def _start_kafka(self) -> asyncio.Task[None] | None:
        """The consumers (and, in changelog mode, the topics they need); the repartition stage
        runs as a task of its own."""
        stage_one = None
        if self.repartitioner is not None:
            kafka = self.config.kafka
            await ensure_topic(kafka, self.repartitioner.target, kafka.repartition_partitions)
            await self.repartitioner.start()
            stage_one = asyncio.create_task(
                self.repartitioner.run(self._stop, self.config.watch.tick)
            )
        if isinstance(self.store, ChangelogStore):
            await self.store.start()
            await self.store.ensure_topics(await self._input_partitions())
        await self.source.start()
        return stage_one

    def stop(self) -> None:
        """Stop taking records; the current batch is finished and committed."""
        self._stop.set()

    async def _shutdown(self, sender: asyncio.Task[None] | None) -> None:
        self._stop.set()
        if sender is not None:
            await sender
        try:
            # Revokes every partition first: `_hand_over` commits what was taken.
            await self.source.stop()
        except Exception:  # the broker may be gone; the store still has the offsets
            log.warning("final commit failed; records will be read again", exc_info=True)
        await self.http.stop()
        if isinstance(self.store, ChangelogStore):
            await self.store.stop()
        self.store.close()

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self._request_reload)

    def _request_reload(self) -> None:
        self._reload_requested = True

    # ---- one batch ------------------------------------------------------------------------

    async def _step(self) -> None:
        kafka = self.config.kafka
        records = await self.source.fetch(kafka.max_batch, self._wait_s())
        # Never while a rebalance callback hands partitions over or restores them; and not
        # across the fetch or the commit, which may wait for that very rebalance.
        async with self._rebalancing:
            await self._process(records, backlog=len(records) >= kafka.max_batch)
        # Committing is a broker round trip: at most once per COMMIT_EVERY_S while records
        # flow. Until then the store holds the offsets, and a crash re-reads a little more.
        if records and time.monotonic() >= self._next_commit:
            await self.source.commit(self._progress.offsets)
            self._next_commit = time.monotonic() + COMMIT_EVERY_S

    async def _process(self, records: Sequence[Record], backlog: bool) -> None:
        now = self.wall_clock()
        findings: list[Finding] = []
        owned = self.source.assigned()
        for record in merged_by_time(records):
            partition = (record.topic, record.partition)
            # Fetched before a rebalance: another replica owns it now, or it was read before.
            if partition in owned and record.offset >= self._floor.get(partition, 0):
                findings += self._apply(record, now)
        if records:
            self._note_traffic(now)
        held = await self._held_feeds(backlog=backlog)
        findings += self.engine.advance(now, held)
        findings += self._bus_silence(now)
        self.metrics.pending_deadlines.set(self.engine.pending_deadlines)
        self._keep(findings, now)
        if isinstance(self.store, ChangelogStore):
            await self.store.flush()  # the changelog has the batch before Kafka commits

    def _apply(self, record: Record, now: float) -> list[Finding]:
        feed = feed_name((record.topic, record.partition))
        origin: str | None = f"{feed}@{record.offset}"
        scope = None
        if self.repartitioner is not None:
            scope, origin = scope_of(record.headers)
        item = from_kafka(record.value, record.headers, origin=origin)
        if (
            isinstance(item, Envelope)
            and item.time is not None
            and record.timestamp is not None
            and (scope is None or scope.primary)
        ):
            self.metrics.event_clock_skew.observe(record.timestamp - item.time)
        findings = self.engine.apply(item, now, feed=feed, scope=scope)
        self._progress.offsets[(record.topic, record.partition)] = record.offset + 1
        return findings

    def _keep(self, findings: Sequence[Finding], now: float) -> None:
        """Store first, then tell: a crash in between repeats nothing (ids are remembered)."""
        new = self.store.new_findings(findings)
        if self.alerter is not None and new:
            self.alerter.accept(new, self.engine.view, now)
        if self.alerter is not None:
            self.alerter.flush_due(now)
        self.store.commit(self.engine.take_changes(), new, self._progress.offsets)
        self.observer.findings(new)
        if new:
            self.out.write("".join(finding.to_json_line() for finding in new))
            self.out.flush()

    def _wait_s(self) -> float:
        """Sleep in fetch until the next deadline is due, at most one tick."""
        wait = self.config.watch.tick
        if self.engine.deadlines:
            wait = min(wait, self.engine.deadlines[0][0] - self.wall_clock())
        return max(MIN_WAIT_S, wait)

    async def _held_feeds(self, backlog: bool) -> frozenset[str]:
        """Partitions too far behind to let their rollouts' deadlines fire."""
        lags = await self.source.lags()
        self._progress.lags = lags
        threshold = self.config.kafka.lag_threshold
        held = set()
        for (topic, partition), lag in lags.items():
            if lag is not None:
                self.metrics.consumer_lag.labels(topic, str(partition)).set(lag)
            # A full batch means a backlog whatever the last lag said: hold until it drains.
            if lag is None or lag > threshold or backlog:
                held.add(feed_name((topic, partition)))
        if self.repartitioner is not None and self.repartitioner.lagging:
            # Behind on the input: any repartition partition may still get a rollout's event.
            held.update(feed_name(partition) for partition in lags)
        if lags and not held:
            self._progress.caught_up = True
        self.metrics.deadlines_held.set(1 if held else 0)
        self.metrics.ready.set(1 if self._is_ready() else 0)
        return frozenset(held)

    def _note_traffic(self, now: float) -> None:
        self._progress.last_record_at = now
        self.metrics.last_event.set(now)
        if self._progress.silent_since is not None:
            log.info("the bus is talking again")
            self._progress.silent_since = None
            self.metrics.bus_silent.set(0)

    def _bus_silence(self, now: float) -> list[Finding]:
        """No record at all for `watch.bus_silence`: the sentinel says it cannot see anything."""
        limit = self.config.watch.bus_silence
        progress = self._progress
        if limit is None or progress.silent_since is not None:
            return []
        if now - progress.last_record_at <= limit:
            return []
        progress.silent_since = now
        self.metrics.bus_silent.set(1)
        topics = ", ".join(self.config.kafka.topics)
        quiet = format_duration(now - progress.last_record_at)
        return [Finding(Kind.BUS_SILENT, now, reason=f"no record on {topics} for {quiet}")]

    # ---- partitions -----------------------------------------------------------------------

    async def on_revoked(self, partitions: frozenset[Partition]) -> None:
        async with self._rebalancing:
            await self._hand_over(partitions)

    async def on_assigned(self, partitions: frozenset[Partition]) -> None:
        async with self._rebalancing:
            await self._take_over(partitions)

    async def _hand_over(self, partitions: frozenset[Partition]) -> None:
        if isinstance(self.store, ChangelogStore):
            # The changelog first: the next owner restores from it, then reads from the commit.
            await self.store.revoke(partitions)
            dropped = self.engine.forget_feeds({feed_name(tp) for tp in partitions})
            self.observer.recount(self.engine)
            log.info("rollouts handed over", extra={"rollouts": dropped})
        mine = {tp: off for tp, off in self._progress.offsets.items() if tp in partitions}
        if mine:
            await self.source.commit(mine)
        for tp in partitions:
            self._progress.offsets.pop(tp, None)
            if self._progress.lags.pop(tp, None) is not None:
                self.metrics.consumer_lag.remove(tp[0], str(tp[1]))
        self._progress.caught_up = False
        log.info("partitions revoked", extra={"partitions": sorted(map(list, partitions))})

    async def _take_over(self, partitions: frozenset[Partition]) -> None:
        if isinstance(self.store, ChangelogStore):
            await self.store.assign(partitions)
            feeds = {feed_name(tp) for tp in partitions}
            state = self.store.load()
            arriving = [r for r in state.rollouts if r.feeds and r.feeds[0] in feeds]
            self.engine.restore(arriving, (), state.clock, state.unregistered_types)
            self.observer.recount(self.engine)
            log.info(
                "partitions restored",
                extra={
                    "rollouts": len(arriving),
                    "open": sum(r.closed_at is None for r in arriving),
                },
            )
        stored = self.store.offsets()
        for tp in partitions:
            self._floor[tp] = stored.get(tp, 0)
            if tp in stored:
                # The store is the truth about what was applied: forward past records whose
                # commit was lost, back over batches a power loss took from the file.
                await self.source.seek(tp, stored[tp])
        self._progress.caught_up = False
        log.info("partitions assigned", extra={"partitions": sorted(map(list, partitions))})

    # ---- state, rules, probes -------------------------------------------------------------

    def _restore(self) -> None:
        state = self.store.load()
        self.engine.restore(
            state.rollouts, state.seen_events, state.clock, state.unregistered_types
        )
        self.observer.recount(self.engine)
        if state.rollouts:
            log.info("state restored", extra={"rollouts": len(state.rollouts)})

    async def _input_partitions(self) -> dict[str, int]:
        """Partitions of each topic the engine reads: the changelog gets as many."""
        if self.repartitioner is not None:
            return {self.repartitioner.target: self.config.kafka.repartition_partitions}
        return await topic_partitions(self.config.kafka, self.config.kafka.topics)

    def _fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        return fingerprint(self.config.expectations, self.config.schemas)

    def _maybe_reload(self, forced: bool) -> None:
        self._reload_requested = False
        current = self._fingerprint()
        if not forced and current == self._rules_fingerprint:
            return
        self._rules_fingerprint = current
        try:
            rules = self._load_rules()
        except (ExpectationFileError, SchemaDirError) as error:
            self.metrics.config_reloads.labels("failure").inc()
            log.error(
                "reload refused; the previous expectations and schemas keep running",
                extra={"problems": list(error.problems)},
            )
            return
        self.engine.reload(rules.expectations, rules.schemas)
        self.observer.known_types = rules.known_types
        self.observer.recount(self.engine)
        self.metrics.config_reloads.labels("success").inc()
        self._note_rules(rules)
        log.info("reloaded", extra={"expectations": len(rules.expectations)})

    def _note_rules(self, rules: Rules) -> None:
        self.metrics.expectations_loaded.set(len(rules.expectations))
        self.metrics.expectation_info.clear()
        self.metrics.step_window.clear()
        for exp in rules.expectations:
            self.metrics.expectation_info.labels(exp.name, exp.owner or "").set(1)
            for step in exp.steps:
                if step.within is not None:
                    self.metrics.step_window.labels(exp.name, step.event).set(step.within)
        self.metrics.schemas_loaded.set(len(rules.schemas))
        self.metrics.config_loaded.set(self.wall_clock())
        for warning in rules.warnings:
            log.warning(warning)

    def _is_ready(self) -> bool:
        return self._running and bool(self.source.assigned()) and self._progress.caught_up

    def _health(self) -> tuple[bool, dict[str, Any]]:
        last = self.source.last_fetch_ok
        stuck = last is not None and time.monotonic() - last > self.config.kafka.fetch_watchdog
        details: dict[str, Any] = {"loop": self._running, "consumer_stuck": stuck}
        return self._running and not stuck, details

    def _readiness(self) -> tuple[bool, dict[str, Any]]:
        details: dict[str, Any] = {
            "partitions": len(self.source.assigned()),
            "caught_up": self._progress.caught_up,
            "lags": {f"{t}/{p}": lag for (t, p), lag in sorted(self._progress.lags.items())},
        }
        if self.alerter is not None:
            details["alerting"] = self.alerter.status()
        return self._is_ready(), details


def _build_alerter(config: Config, store: StateStore, metrics: Metrics) -> Alerter | None:
    """The alerter when `alerting:` is configured, writing to the store's outbox."""
    if config.alerting is None:
        return None
    from sentinel.alerting.wiring import build_alerter  # noqa: PLC0415 (only when configured)

    return build_alerter(config, store, metrics)
