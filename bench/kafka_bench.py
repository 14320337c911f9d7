"""Live watcher numbers (issues 3, 10, 11): `sentinel run` against a bare aiokafka consumer on
the same topic in the same run (plain events, a bus where 90% of records are types nothing
watches, binary mode with and without a schema registry). The catch-up time of a backlog of
1,000,000 records and the time from a deadline to its finding with 100,000 open rollouts are
measured here (`catch_up`, `deadline_latency`) and printed with issue 21's figures
(bench/throughput_bench.py).

Every `sentinel run` here keeps its state in SQLite and writes its findings: the
configuration a user runs.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer

from bench.live_support import (
    Clocked,
    Produced,
    binary_mode,
    noisy_bus,
    produce,
    structured,
    writer_ids,
)
from bench.replay_bench import ROOT, generate_log
from sentinel.commands.demo_registry import DemoRegistry
from sentinel.config import load_config
from sentinel.core.timefmt import format_rfc3339, parse_rfc3339
from sentinel.kafka.broker import EmbeddedBroker
from sentinel.runtime.wiring import build_watcher

EVENTS = 200_000
BACKLOG_ROLLOUTS = 100_000  # 10 events each: a backlog of 1,000,000 records
OPEN_ROLLOUTS = 100_000
LATENCY_WINDOW_S = 30.0
PARTITIONS = 3
ROUNDS = 2  # bare and sentinel alternate; the best of each counts (the machine is shared)
WARM_UP = 10_000  # records kept before a sentinel's rate is timed

LATENCY_EXPECTATION = f"""\
apiVersion: sentinel/v1
kind: Expectation
metadata:
  name: latency
spec:
  correlate: data.rollout_id
  steps:
    - event: SchemaV2_Ready
    - event: UserServiceV2_Running
      after: [SchemaV2_Ready]
      within: {LATENCY_WINDOW_S:g}s
"""


class Bench:
    """One broker (and a demo registry) for every figure; each run gets a group of its own."""

    def __init__(self, directory: Path, broker: EmbeddedBroker, registry: DemoRegistry) -> None:
        self.directory = directory
        self.broker = broker
        self.registry = registry
        self._runs = 0

    @property
    def servers(self) -> str:
        return self.broker.bootstrap_servers

    async def topic(
        self, name: str, records: Sequence[Produced], partitions: int = PARTITIONS
    ) -> str:
        await self.broker.create_topics([name], partitions=partitions)
        await produce(self.servers, name, records)
        return name

    def config(
        self,
        topic: str,
        expectations: Path = ROOT,
        registry: bool = False,
        changelog: bool = False,
        group: str | None = None,
        listen: str = "127.0.0.1:0",
        extra: str = "",
    ) -> Path:
        """A config of its own (file, state file); `group` shares a consumer group, and
        `changelog` is state.mode changelog (records keyed by rollout, as `produce` keys them)."""
        self._runs += 1
        name = f"bench-{self._runs}"
        path = self.directory / f"{name}.yaml"
        path.write_text(
            f"expectations: {expectations}\nschemas: {ROOT / 'schemas'}\n"
            f"kafka:\n  bootstrap_servers: {self.servers}\n  topics: [{topic}]\n"
            f"  group_id: {group or name}\n  auto_offset_reset: earliest\n  session_timeout: 2s\n"
            + ("  input_keyed_by_rollout: true\n  replication_factor: 1\n" if changelog else "")
            + f"state:\n  path: {self.directory / name}.db\n"
            + ("  mode: changelog\n" if changelog else "")
            + f"http:\n  listen: {listen}\nlog:\n  level: error\n"
            + (f"registry:\n  url: {self.registry.url}\n" if registry else "")
            + extra
        )
        return path

    async def bare(self, topic: str, total: int, framed: bool = False) -> float:
        """Events/s of a consumer that only decodes each value's JSON."""
        self._runs += 1
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=self.servers, group_id=f"bench-bare-{self._runs}",
            auto_offset_reset="earliest", enable_auto_commit=False, session_timeout_ms=2000,
            max_partition_fetch_bytes=8 << 20,
        )  # fmt: skip
        await consumer.start()
        seen, first = 0, None
        try:
            while seen < total:
                batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                for messages in batches.values():
                    for message in messages:
                        value = message.value
                        if framed and value[:1] == b"\x00":  # and a 4-byte schema id
                            value = value[5:]
                        orjson.loads(value)
                    seen += len(messages)
                if first is None and seen >= WARM_UP:
                    first = (time.perf_counter(), seen)  # timed as the sentinel is
        finally:
            await consumer.stop()
        assert first is not None
        return (seen - first[1]) / (time.perf_counter() - first[0])

    async def sentinel(self, config: Path, total: int) -> tuple[float, float]:
        """`sentinel run` until it has kept `total` records: events/s once it has kept the
        first WARM_UP (the registry's first answers and the first fetches are behind it),
        and seconds from its start (joining the group included)."""
        watcher = build_watcher(load_config(config), out=Clocked())
        started = time.perf_counter()
        task = asyncio.create_task(watcher.run(handle_signals=False))
        first: tuple[float, int] | None = None
        positions = watcher.pipeline.positions
        while (kept := sum(positions.values())) < total:
            if task.done():
                task.result()
                raise RuntimeError("sentinel run stopped before reading every record")
            if first is None and kept >= WARM_UP:
                first = (time.perf_counter(), kept)
            await asyncio.sleep(0.005)
        done = time.perf_counter()
        watcher.stop()
        await task
        since, counted = first if first is not None else (started, 0)
        return (total - counted) / (done - since), done - started

    async def ratio(
        self,
        topic: str,
        total: int,
        registry: bool = False,
        framed: bool = False,
        changelog: bool = False,
    ) -> tuple[float, float]:
        """Best bare and best sentinel events/s over the rounds, alternating."""
        bare = sentinel = 0.0
        for _ in range(ROUNDS):
            bare = max(bare, await self.bare(topic, total, framed))
            config = self.config(topic, registry=registry, changelog=changelog)
            rate, _ = await self.sentinel(config, total)
            sentinel = max(sentinel, rate)
        return bare, sentinel


def say_ratio(what: str, bare: float, sentinel: float, goal: str) -> float:
    ratio = sentinel / bare
    print(
        f"{what}: bare aiokafka + JSON {bare:,.0f} events/s, sentinel run {sentinel:,.0f}"
        f" events/s, ratio {ratio:.2f} ({goal})"
    )
    return ratio


async def _latencies(bench: Bench) -> list[float]:
    folder = bench.directory / "latency"
    folder.mkdir()
    (folder / "latency.yaml").write_text(LATENCY_EXPECTATION)
    await bench.broker.create_topics(["bench-latency"], partitions=PARTITIONS)
    sink = Clocked()
    # Every rollout open at once: more than one expectation may hold by default.
    limits = f"limits:\n  open_rollouts_per_expectation: {OPEN_ROLLOUTS}\n"
    config = bench.config("bench-latency", folder, extra=limits)
    watcher = build_watcher(load_config(config), out=sink)
    task = asyncio.create_task(watcher.run(handle_signals=False))
    while not watcher.source.assigned():
        await asyncio.sleep(0.05)
    now = time.time()
    values = [
        orjson.dumps(
            {"specversion": "1.0", "id": f"l{i}", "source": "/bench", "type": "SchemaV2_Ready",
             "time": format_rfc3339(now + i * 0.0001),
             "data": {"rollout_id": f"open-{i}", "schema_version": "2", "migration_id": "m"}}
        )
        for i in range(OPEN_ROLLOUTS)
    ]  # fmt: skip
    await produce(bench.servers, "bench-latency", structured(values))
    deadline_of_last = now + OPEN_ROLLOUTS * 0.0001 + LATENCY_WINDOW_S
    while time.time() < deadline_of_last + 3:
        await asyncio.sleep(0.2)
    watcher.stop()
    await task
    latencies = []
    for written, line in sink.lines:
        finding = orjson.loads(line)
        if finding["kind"] == "stall":
            latencies.append(written - parse_rfc3339(finding["deadline"]))
    return latencies


@asynccontextmanager
async def open_bench(directory: Path) -> AsyncIterator[Bench]:
    """An embedded broker and a demo registry for the time of a run."""
    registry = DemoRegistry()
    await registry.start()
    try:
        async with EmbeddedBroker(log_path=directory / "broker.log") as broker:
            yield Bench(directory, broker, registry)
    finally:
        await registry.stop()


async def _main(directory: Path) -> dict[str, float]:
    async with open_bench(directory) as bench:
        return await _figures(bench)


async def _figures(bench: Bench) -> dict[str, float]:
    # Event times from now on, as on a live bus: with times long past, the wall clock would
    # have every deadline behind it, and the run would measure writing stalls.
    log = generate_log(start_at=time.time())[:EVENTS]
    figures: dict[str, float] = {}
    plain = await bench.topic("bench-events", structured(log))
    bare, sentinel = await bench.ratio(plain, len(log))
    figures["live_ratio"] = say_ratio("consume", bare, sentinel, "goal >= 0.5")

    noisy = await bench.topic("bench-noisy", noisy_bus(log[: EVENTS // 10]))
    bare, sentinel = await bench.ratio(noisy, EVENTS)
    figures["noisy_ratio"] = say_ratio(
        "consume, 90% types nothing watches (binary mode)", bare, sentinel, "goal >= 0.9"
    )

    binary = await bench.topic("bench-binary", binary_mode(log))
    bare, sentinel = await bench.ratio(binary, len(log))
    without = say_ratio("consume, binary mode", bare, sentinel, "the reference for the next")
    framed = await bench.topic("bench-framed", binary_mode(log, writer_ids(bench.registry)))
    bare, sentinel = await bench.ratio(framed, len(log), registry=True, framed=True)
    change = sentinel / bare / without - 1
    figures["registry_ratio"] = say_ratio(
        "consume, binary mode framed by a schema registry", bare, sentinel,
        f"{change:+.0%} against binary mode without one, goal within 10%",
    )  # fmt: skip
    figures["registry_change"] = change

    return figures


async def catch_up(bench: Bench, what: str) -> float:
    """Seconds for `sentinel run` (SQLite state) to read a backlog of 1,000,000 records from
    its start, joining the group included; printed after `what`."""
    backlog = generate_log(BACKLOG_ROLLOUTS, start_at=time.time())
    started = time.perf_counter()
    topic = await bench.topic("bench-backlog", structured(backlog))
    produced = time.perf_counter() - started
    rate, elapsed = await bench.sentinel(bench.config(topic), len(backlog))
    print(
        f"{what}: a backlog of {len(backlog):,} records (produced in {produced:.0f}s) read in"
        f" {elapsed:.1f}s from the start, joining the group included ({rate:,.0f} events/s)"
    )
    return elapsed


async def deadline_latency(bench: Bench, what: str) -> float:
    """The p99 in seconds from a deadline to its finding on stdout, with 100,000 rollouts
    open; printed after `what`."""
    latencies = sorted(await _latencies(bench))
    if len(latencies) != OPEN_ROLLOUTS:
        print(f"    (only {len(latencies):,} of {OPEN_ROLLOUTS:,} rollouts stalled in time)")
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"{what}: deadline -> finding on stdout, {OPEN_ROLLOUTS:,} open rollouts: "
        f"{len(latencies):,} stalls, p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
        "(goal p99 < 1 s)"
    )
    return p99


def main(directory: Path) -> dict[str, float]:
    return asyncio.run(_main(directory))
