"""Live watcher numbers (issue 3): consumption rate against a bare aiokafka consumer in the
same run, and the time from a deadline to its finding with 100,000 open rollouts."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.replay_bench import ROOT, generate_log
from sentinel.app.wiring import build_watcher
from sentinel.config import load_config
from sentinel.kafka.broker import EmbeddedBroker
from sentinel.timefmt import format_rfc3339, parse_rfc3339

EVENTS = 200_000
OPEN_ROLLOUTS = 100_000
LATENCY_WINDOW_S = 30.0

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


class _Clocked:
    """A findings sink that notes when each finding reached it (for latency)."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, bytes]] = []

    def write(self, text: str, /) -> int:
        now = time.time()
        self.lines += [(now, line.encode()) for line in text.splitlines()]
        return len(text)

    def flush(self) -> None:
        pass


async def _produce(servers: str, topic: str, values: list[bytes]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=5, max_batch_size=256_000)
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for value in values:
            # Keyed by rollout, as docs/operations.md recommends: a rollout stays in one partition.
            data = orjson.loads(value)
            key = str(data.get("subject") or data["data"].get("rollout_id")).encode()
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 5_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def _bare_consumer(servers: str, topic: str, total: int) -> float:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=servers, group_id="bench-bare", auto_offset_reset="earliest",
        enable_auto_commit=False, session_timeout_ms=2000, max_partition_fetch_bytes=8 << 20,
    )  # fmt: skip
    await consumer.start()
    seen, first = 0, None
    try:
        while seen < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            for messages in batches.values():
                if first is None and messages:
                    first = time.perf_counter()
                for message in messages:
                    orjson.loads(message.value)
                seen += len(messages)
    finally:
        await consumer.stop()
    assert first is not None
    return seen / (time.perf_counter() - first)


def _config(directory: Path, servers: str, topic: str, group: str, expectations: Path) -> Path:
    path = directory / f"{group}.yaml"
    path.write_text(
        f"expectations: {expectations}\nschemas: {ROOT / 'schemas'}\n"
        f"kafka:\n  bootstrap_servers: {servers}\n  topics: [{topic}]\n  group_id: {group}\n"
        "  auto_offset_reset: earliest\n  session_timeout: 2s\n"
        "http:\n  listen: 127.0.0.1:0\nlog:\n  level: error\n"
    )
    return path


async def _sentinel_rate(directory: Path, servers: str, topic: str, total: int) -> float:
    config = load_config(_config(directory, servers, topic, "bench-sentinel", ROOT))
    watcher = build_watcher(config, out=_Clocked())
    task = asyncio.create_task(watcher.run(handle_signals=False))
    first = None
    positions = watcher.pipeline.positions
    while sum(positions.values()) < total:
        if first is None and positions:
            first = time.perf_counter()
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - (first or time.perf_counter())
    watcher.stop()
    await task
    return total / elapsed


async def _latency(directory: Path, broker: EmbeddedBroker) -> list[float]:
    topic = "bench-latency"
    await broker.create_topics([topic], partitions=3)
    folder = directory / "latency"
    folder.mkdir()
    (folder / "latency.yaml").write_text(LATENCY_EXPECTATION)
    config = load_config(_config(directory, broker.bootstrap_servers, topic, "bench-lat", folder))
    sink = _Clocked()
    watcher = build_watcher(config, out=sink)
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
    await _produce(broker.bootstrap_servers, topic, values)
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


async def _main() -> dict[str, float]:
    directory = Path(tempfile.mkdtemp(prefix="sentinel-bench-"))
    async with EmbeddedBroker(log_path=directory / "broker.log") as broker:
        topic = "bench-events"
        await broker.create_topics([topic], partitions=3)
        log = generate_log()[:EVENTS]
        produced = await _produce(broker.bootstrap_servers, topic, log)
        print(f"produced {len(log):,} events in {produced:.1f}s")
        bare = await _bare_consumer(broker.bootstrap_servers, topic, len(log))
        sentinel = await _sentinel_rate(directory, broker.bootstrap_servers, topic, len(log))
        print(
            f"consume: bare aiokafka + JSON {bare:,.0f} events/s, sentinel run {sentinel:,.0f} "
            f"events/s, ratio {sentinel / bare:.2f} (goal >= 0.5)"
        )
        latencies = sorted(await _latency(directory, broker))
        p50 = statistics.median(latencies)
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        print(
            f"deadline -> finding on stdout, {OPEN_ROLLOUTS:,} open rollouts: "
            f"{len(latencies):,} stalls, p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
            "(goal p99 < 1 s)"
        )
    return {"bare": bare, "sentinel": sentinel, "p50": p50, "p99": p99}


def main() -> dict[str, float]:
    return asyncio.run(_main())


if __name__ == "__main__":
    main()
