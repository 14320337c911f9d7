"""The metrics' share of the live hot path: the replay log through the pipeline with the live
watcher's metrics observer (step waits, rollout durations, findings, exemplars) against the
same pipeline observed by nobody, and the time one OpenMetrics scrape takes afterwards.

Replay's benchmark observes nothing, so it cannot see what metrics cost; this one can.
"""

from __future__ import annotations

import gc
import time

from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics

from bench.replay_bench import ROOT, generate_log
from sentinel.core.engine.engine import Engine
from sentinel.core.events.decoders import LineDecoder
from sentinel.core.events.records import Partition, Record
from sentinel.core.events.schemas import SchemaRegistry
from sentinel.core.pipeline.pipeline import EventClock, Pipeline
from sentinel.core.ports.store import NullStore
from sentinel.core.rules.loader import load_expectations
from sentinel.runtime.metrics import Metrics
from sentinel.runtime.metrics_observer import MetricsObserver
from sentinel.speed import tune_gc

BATCH = 500
# Observed and unobserved runs alternate; the best of each counts (the machine is shared, and
# other work only slows).
ROUNDS = 5
LOG = Partition("log", 0)


def main() -> dict[str, float]:
    loaded = load_expectations([ROOT])
    schemas = SchemaRegistry.load(ROOT / "schemas")
    records = [Record(LOG, n, line) for n, line in enumerate(generate_log(), start=1)]
    observed = unobserved = 0.0
    scrape_s = float("inf")
    for _ in range(ROUNDS):
        unobserved = max(unobserved, _rate(Engine(loaded.expectations, schemas), records))
        registry = CollectorRegistry()
        observer = MetricsObserver(Metrics(registry), schemas.types)
        engine = Engine(loaded.expectations, schemas, observer)
        observed = max(observed, _rate(engine, records, observer))
        started = time.perf_counter()
        openmetrics(registry)  # type: ignore[no-untyped-call]
        scrape_s = min(scrape_s, time.perf_counter() - started)
    ratio = observed / unobserved
    print(
        f"metrics: {len(records):,} events: {observed:,.0f} events/s with the live metrics"
        f" observer, {unobserved:,.0f} observed by nobody ({ratio:.3f} of it); one OpenMetrics"
        f" scrape {scrape_s * 1000:.1f} ms"
    )
    return {
        "metrics_events_per_s": observed,
        "unobserved_events_per_s": unobserved,
        "metrics_ratio": ratio,
        "scrape_s": scrape_s,
    }


def _rate(engine: Engine, records: list[Record], observer: MetricsObserver | None = None) -> float:
    """Events per second through a pipeline without a store, on event time as replay runs."""
    pipeline = Pipeline(engine, NullStore(), LineDecoder())
    if observer is not None:
        pipeline.observer = observer
    clock = EventClock(time.time)
    gc.collect()
    started = time.perf_counter()
    for start in range(0, len(records), BATCH):
        pipeline.process(records[start : start + BATCH], clock)
    return len(records) / (time.perf_counter() - started)


if __name__ == "__main__":
    tune_gc()
    main()
