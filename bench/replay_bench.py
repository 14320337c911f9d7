"""Replay throughput (envelope + schemas + engine) and memory per open rollout (issue 2), also
once it has stalled and keeps its finding (issue 12)."""

from __future__ import annotations

import gc
import time
import tracemalloc
from pathlib import Path

import orjson

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.limits import Limits
from sentinel.core.events.schemas import SchemaRegistry
from sentinel.core.pipeline.replay import replay_lines
from sentinel.core.rules.loader import load_expectations
from sentinel.core.timefmt import format_rfc3339
from sentinel.speed import tune_gc

ROOT = Path(__file__).resolve().parents[1] / "expectations"
T0 = 1_795_600_800.0
OPEN = 100_000  # rollouts opened and left open for the memory figures


def generate_log(
    rollouts: int = 20_000, per_rollout: int = 10, start_at: float = T0, first: int = 0
) -> list[bytes]:
    """`rollouts` interleaved rollouts of both shipped expectations, 10 events each, the
    first at `start_at`; rollouts are numbered from `first` (logs that follow one another)."""
    lines: list[tuple[float, bytes]] = []
    for index in range(first, first + rollouts):
        start = start_at + (index - first) * 3.0  # about 1,000 rollouts open at any time
        rid, release = f"r-{index}", f"{2000 + index // 50}-w{index % 50 + 1:02d}"
        events = [
            (0, "SchemaV2_Ready", {"rollout_id": rid, "schema_version": "2", "migration_id": "m"}),
            (300, "UserServiceV2_Running", {"rollout_id": rid, "version": "2.0", "replicas": 3}),
            (500, "MessagingService_Reconfigured",
             {"rollout_id": rid, "user_service_version": "2.0", "config_revision": 7}),
            (0, "FeatureFlags_Staged", {"release": release, "flags": ["a"]}),
            (600, "Matchmaking_Updated",
             {"release": release, "config_version": "1", "regions": ["eu"]}),
            (900, "Leaderboard_Migrated",
             {"release": release, "migration_id": "m", "rows_migrated": 10}),
            (1800, "TournamentService_Enabled",
             {"release": release, "version": "1", "tournaments": 3}),
            (2100, "Release_Announced", {"release": release, "channel": "blog"}),
            (2200, "CacheWarmup_Done", {"rollout_id": rid}),
        ]  # fmt: skip
        for number, (offset, event_type, data) in enumerate(events):
            lines.append(
                (start + offset, _event(f"{rid}-{number}", event_type, start + offset, data))
            )
        lines.append((start + 301, lines[-8][1]))  # one redelivered event per rollout
    lines.sort(key=lambda pair: pair[0])
    assert len(lines) == rollouts * per_rollout
    return [line for _, line in lines]


def _event(event_id: str, event_type: str, at: float, data: dict[str, object]) -> bytes:
    # The game expectation correlates on `subject`: the release, as its producers set it.
    subject = data.get("release")
    return orjson.dumps(
        {"specversion": "1.0", "id": event_id, "source": "/bench", "type": event_type,
         "time": format_rfc3339(at), "data": data, **({"subject": subject} if subject else {})}
    )  # fmt: skip


def replay_rate(log: list[bytes]) -> tuple[float, int, float]:
    """Replay of `log` (envelope, schemas, engine; no store): events/s, findings, seconds."""
    engine = Engine(load_expectations([ROOT]).expectations, SchemaRegistry.load(ROOT / "schemas"))
    gc.collect()
    started = time.perf_counter()
    findings = sum(1 for _ in replay_lines(log, engine, read_at=time.time, batch=500))
    elapsed = time.perf_counter() - started
    return len(log) / elapsed, findings, elapsed


def main() -> dict[str, float]:
    loaded = load_expectations([ROOT])
    schemas = SchemaRegistry.load(ROOT / "schemas")
    log = generate_log()
    rate, findings, elapsed = replay_rate(log)
    print(
        f"replay: {len(log):,} events, {findings:,} findings in {elapsed:.2f}s"
        f" = {rate:,.0f} events/s"
    )

    # Memory per open rollout: 100,000 rollouts opened and left open, measured by tracemalloc
    # (all of one expectation: beyond its default bound of 50,000 in `limits:`).
    engine = Engine(loaded.expectations, schemas, limits=Limits(open_rollouts_per_expectation=OPEN))
    opening = [
        _event(f"o-{i}", "SchemaV2_Ready", T0,
               {"rollout_id": f"open-{i}", "schema_version": "2", "migration_id": "m"})
        for i in range(OPEN)
    ]  # fmt: skip
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in replay_lines(opening, engine, read_at=time.time, batch=500):
        pass
    gc.collect()
    after, peak = tracemalloc.get_traced_memory()
    # Then each stalls: its stall finding is kept in it, for its page and the history.
    stalls = sum(1 for _ in replay_lines([], engine, read_at=time.time, until=T0 + 11 * 60))
    gc.collect()
    stalled = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    opened = sum(len(by_key) for by_key in engine.rollouts.values())
    assert opened == OPEN, f"{opened:,} of {OPEN:,} rollouts opened: a bound of limits: refused"
    per_rollout = (after - before) / OPEN
    per_stalled = (stalled - before) / stalls
    print(
        f"memory: {per_rollout:,.0f} bytes per open rollout (100,000 open, incl. its deadline and "
        f"event id); peak {(peak - before) / 2**20:,.1f} MiB; {per_stalled:,.0f} bytes once it "
        "has stalled (with its finding)"
    )
    return {
        "replay_events_per_s": rate,
        "bytes_per_open_rollout": per_rollout,
        "bytes_per_stalled_rollout": per_stalled,
    }


if __name__ == "__main__":
    tune_gc()
    main()
