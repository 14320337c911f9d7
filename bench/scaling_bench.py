"""Cost as work grows (issue 10): replay throughput with 1,000, 100,000 and 1,000,000 rollouts
open beside the log, and the memory each open rollout takes at 1,000,000."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import orjson

from bench.replay_bench import ROOT, T0, generate_log
from sentinel.core.engine.engine import Engine
from sentinel.core.engine.limits import Limits
from sentinel.core.events.decoders import LineDecoder
from sentinel.core.events.records import Partition, Record
from sentinel.core.events.schemas import SchemaRegistry
from sentinel.core.pipeline.pipeline import EventClock, Pipeline
from sentinel.core.ports.store import NullStore
from sentinel.core.rules.loader import load_expectations
from sentinel.core.timefmt import format_rfc3339

SIZES = (1_000, 100_000, 1_000_000)
BATCH = 500
# Each size is timed on this many logs of 100,000 events, one after the other; the best
# counts (the machine is shared, and other work only slows).
ROUNDS = 3
ROUND_ROLLOUTS = 10_000
ROUND_SPAN_S = ROUND_ROLLOUTS * 3.0 + 3_000  # event time one log covers, and some
LOG = Partition("log", 0)

# Held open for every round (about 9 hours of event time each): its deadline never fires.
HELD_OPEN = """\
apiVersion: sentinel/v1
kind: Expectation
metadata:
  name: held-open
spec:
  correlate: data.rollout_id
  steps:
    - event: Hold_Opened
    - event: Hold_Closed
      after: [Hold_Opened]
      within: 72h
"""


def main(directory: Path) -> dict[str, float]:
    (directory / "held-open.yaml").write_text(HELD_OPEN)
    loaded = load_expectations([ROOT, directory / "held-open.yaml"])
    schemas = SchemaRegistry.load(ROOT / "schemas")
    logs = [
        generate_log(ROUND_ROLLOUTS, start_at=T0 + n * ROUND_SPAN_S, first=n * ROUND_ROLLOUTS)
        for n in range(ROUNDS)
    ]
    rates: dict[int, float] = {}
    for size in SIZES:
        # Every rollout opened stays open: beyond the default bounds of `limits:`.
        engine = Engine(loaded.expectations, schemas, limits=_unbounded(size))
        pipeline = Pipeline(engine, NullStore(), LineDecoder())
        clock = EventClock(time.time)
        opening = _records(_opening(size), 1)
        gc.collect()
        before = _rss()
        _through(pipeline, opening, clock)
        del opening
        opened = sum(len(by_key) for by_key in engine.rollouts.values())
        assert opened == size, f"{opened:,} of {size:,} rollouts opened: a bound refused"
        gc.collect()
        per_rollout = (_rss() - before) / size
        offset = size + 1
        for log in logs:
            records = _records(log, offset)
            offset += len(records)
            gc.collect()
            started = time.perf_counter()
            _through(pipeline, records, clock)
            rate = len(records) / (time.perf_counter() - started)
            rates[size] = max(rates.get(size, 0.0), rate)
        heap = engine.deadlines
        print(
            f"scaling: {size:>9,} open rollouts: {rates[size]:>9,.0f} events/s"
            f" ({rates[size] / rates[SIZES[0]]:.2f} of the rate at {SIZES[0]:,});"
            f" deadline heap {len(heap):,} entries, {heap.compactions} compactions"
        )
        del pipeline, engine, records
    spread = max(rates.values()) / min(rates.values()) - 1
    print(
        f"scaling: throughput spread {spread:.0%} across {SIZES[0]:,} to {SIZES[-1]:,} open"
        " rollouts (goal within 20%)"
    )
    print(
        f"memory: {per_rollout:,.0f} bytes per open rollout at {SIZES[-1]:,} (resident memory,"
        " incl. its deadline and event id; goal < 2 KB)"
    )
    return {"scaling_spread": spread, "bytes_per_open_rollout_1m": per_rollout}


def _opening(count: int) -> list[bytes]:
    """One event per rollout, each with an id, before the log's first event."""
    at = format_rfc3339(T0 - 60)
    return [
        orjson.dumps(
            {"specversion": "1.0", "id": f"h-{index}", "source": "/held", "type": "Hold_Opened",
             "time": at, "data": {"rollout_id": f"held-{index}"}}
        )
        for index in range(count)
    ]  # fmt: skip


def _records(lines: list[bytes], first: int) -> list[Record]:
    return [Record(LOG, first + index, line) for index, line in enumerate(lines)]


def _through(pipeline: Pipeline, records: list[Record], clock: EventClock) -> None:
    for start in range(0, len(records), BATCH):
        pipeline.process(records[start : start + BATCH], clock)


def _rss() -> int:
    """Resident memory of this process, in bytes (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _unbounded(size: int) -> Limits:
    """Bounds that let `size` rollouts, and the benchmark's own, stay open."""
    most = size + 2 * ROUND_ROLLOUTS
    return Limits(open_rollouts=most, open_rollouts_per_expectation=most)
