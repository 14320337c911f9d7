"""`sentinel learn` over 1,000,000 events of 100,000 rollouts: events/s and peak memory (issue 13).

The log is generated in memory first (time-ordered JSON lines of an 8-step rollout with a
fan-out and a fan-in, 5% rollbacks, a type that 10% of rollouts have, and redelivered events).
Throughput is timed on its own; the learner's peak memory is measured in a second run under
tracemalloc (which slows it down), counting only what the learner allocates, not the log.
"""

from __future__ import annotations

import gc
import random
import time
import tracemalloc

import orjson

from sentinel.core.pipeline.replay import read_lines
from sentinel.core.timefmt import format_rfc3339
from sentinel.learning.learner import LearnOptions, learn

T0 = 1_795_600_800.0
# step -> (prerequisites, typical wait in seconds)
GRAPH: dict[str, tuple[tuple[str, ...], float]] = {
    "Plan_Approved": ((), 0.0),
    "Schema_Migrated": (("Plan_Approved",), 300.0),
    "Cache_Primed": (("Plan_Approved",), 120.0),
    "Service_Deployed": (("Schema_Migrated", "Cache_Primed"), 600.0),
    "Canary_Passed": (("Service_Deployed",), 900.0),
    "Traffic_Shifted": (("Canary_Passed",), 300.0),
    "Docs_Published": (("Plan_Approved",), 1800.0),
    "Rollout_Done": (("Traffic_Shifted", "Docs_Published"), 60.0),
}


def generate_log(rollouts: int = 100_000, seed: int = 13) -> list[bytes]:
    """`rollouts` interleaved rollouts, 10 events each, sorted by time."""
    rng = random.Random(seed)
    timed: list[tuple[float, bytes]] = []
    for index in range(rollouts):
        rid, start = f"r-{index}", T0 + index * 3.0  # about 1,000 rollouts open at any time
        at: dict[str, float] = {}
        for step, (after, wait) in GRAPH.items():
            ready = max((at[p] for p in after), default=start)
            at[step] = ready + wait * rng.uniform(0.3, 1.0) + rng.uniform(0.0, 1.0)
        events = sorted(at.items(), key=lambda pair: pair[1])
        if index % 20 == 7:  # a rollback after the fourth step; the rest never comes
            cut = events[3][1]
            events = [*events[:4], ("Rollback_Started", cut + 30.0)]
            events.append(("Rollback_Finished", cut + 30.0 + rng.uniform(60.0, 600.0)))
        if index % 10 == 3:  # a type that few rollouts have: not a step
            events.append(("Audit_Logged", start + rng.uniform(0.0, 3000.0)))
        for number, (event_type, moment) in enumerate(events):
            timed.append((moment, _event(f"{rid}-{number}", event_type, moment, rid)))
        while len(events) < 10:  # redelivered events, as after a producer's retry
            moment, line = timed[-1 - rng.randrange(len(events))]
            timed.append((moment + 1.0, line))
            events.append(("", 0.0))
    timed.sort(key=lambda pair: pair[0])
    return [line for _, line in timed]


def _event(event_id: str, event_type: str, at: float, rollout: str) -> bytes:
    line = orjson.dumps(
        {"specversion": "1.0", "id": event_id, "source": "/bench", "type": event_type,
         "time": format_rfc3339(at), "data": {"rollout_id": rollout, "env": "prod"}}
    )  # fmt: skip
    # orjson's bytes keep its 4 KiB buffer: a copy keeps a million lines at 160 MB, not 4 GB.
    return bytes(bytearray(line))


def main() -> dict[str, float]:
    log = generate_log()
    gc.collect()
    started = time.perf_counter()
    result = learn(read_lines(log), LearnOptions())
    elapsed = time.perf_counter() - started
    rate = len(log) / elapsed
    learned = result.expectations[0] if result.expectations else None
    steps = len(learned.steps) if learned else 0
    rollouts = learned.rollouts if learned else 0
    print(
        f"learn: {len(log):,} events of {rollouts:,} rollouts in {elapsed:.2f}s"
        f" = {rate:,.0f} events/s ({steps} steps learned)"
    )
    gc.collect()
    tracemalloc.start()
    learn(read_lines(log), LearnOptions())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # Not ru_maxrss: `make bench` runs every figure in one process, so its peak is another's.
    print(f"memory: learner peak {peak / 2**20:,.0f} MiB (tracemalloc, the log excluded)")
    return {"learn_events_per_s": rate, "learn_peak_mib": peak / 2**20}


if __name__ == "__main__":
    main()
