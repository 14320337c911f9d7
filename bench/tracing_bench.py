"""What exporting spans (`tracing.otlp`) costs the hot path: the replay log, each event carrying
a producer's traceparent, through the pipeline with a SQLite store, with the span outbox
against without it; and how fast the sender turns kept spans into OTLP protobuf (gzip) bodies.

The spans are made and enqueued inside each batch's transaction, so they cost throughput; the
encoding happens later, in the sender, off the batch's path but on the same core.
"""

from __future__ import annotations

import gc
import gzip
import tempfile
import time
from pathlib import Path

import orjson

from bench.replay_bench import ROOT, generate_log
from sentinel.alerting.sinks.otlp_protobuf import encode, resource_of
from sentinel.alerting.sinks.otlp_settings import OtlpSettings
from sentinel.alerting.span_export import SpanExport
from sentinel.core.engine.engine import Engine
from sentinel.core.engine.spans import span_from_json
from sentinel.core.events.decoders import LineDecoder
from sentinel.core.events.records import Partition, Record
from sentinel.core.events.schemas import SchemaRegistry
from sentinel.core.pipeline.pipeline import EventClock, Pipeline
from sentinel.core.rules.loader import load_expectations
from sentinel.speed import tune_gc
from sentinel.store.sqlite import SqliteStore

BATCH = 500
# Runs with and without export alternate; the best of each counts (the machine is shared).
ROUNDS = 3
LOG = Partition("log", 0)
PRODUCER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def main() -> dict[str, float]:
    loaded = load_expectations([ROOT])
    schemas = SchemaRegistry.load(ROOT / "schemas")
    records = [
        Record(LOG, n, orjson.dumps({**orjson.loads(line), "traceparent": PRODUCER}))
        for n, line in enumerate(generate_log(), start=1)
    ]
    on = off = 0.0
    spans = 0
    with tempfile.TemporaryDirectory() as directory:
        for attempt in range(ROUNDS):
            for export in (False, True):
                path = Path(directory) / f"state-{attempt}-{export}.db"
                rate, made, store = _rate(
                    Engine(loaded.expectations, schemas), records, path, export
                )
                if export:
                    on, spans = max(on, rate), made
                    encoded = _encoding(store)
                else:
                    off = max(off, rate)
                store.close()
    ratio = on / off
    print(
        f"tracing: {len(records):,} events with a traceparent, SQLite store: {on:,.0f} events/s"
        f" exporting spans ({spans:,} spans), {off:,.0f} without ({ratio:.3f} of it);"
        f" the sender encodes {encoded:,.0f} spans/s (protobuf, gzip)"
    )
    return {
        "tracing_events_per_s": on,
        "untraced_events_per_s": off,
        "tracing_ratio": ratio,
        "tracing_spans_encoded_per_s": encoded,
    }


def _rate(
    engine: Engine, records: list[Record], path: Path, export: bool
) -> tuple[float, int, SqliteStore]:
    """Events per second through the pipeline and a SQLite store, on event time; the spans
    enqueued; the store (its outbox holds them)."""
    store = SqliteStore(path)
    pipeline = Pipeline(engine, store, LineDecoder())
    if export:
        pipeline.spans = SpanExport(OtlpSettings("http://collector:4318"), store.outbox(), {})
    clock = EventClock(time.time)
    gc.collect()
    started = time.perf_counter()
    for start in range(0, len(records), BATCH):
        pipeline.process(records[start : start + BATCH], clock)
    elapsed = time.perf_counter() - started
    made = sum(
        len(item.payload["spans"])
        for item in store.outbox().take_due("otlp", "", float("inf"), 10**6)
    )
    return len(records) / elapsed, made, store


def _encoding(store: SqliteStore) -> float:
    """Spans per second from the outbox's JSON to a gzipped OTLP request, as the sender does."""
    items = store.outbox().take_due("otlp", "", float("inf"), 10**6)
    resource = resource_of({}, {})
    started = time.perf_counter()
    count = 0
    for item in items:
        spans = [span_from_json(span) for span in item.payload["spans"]]
        gzip.compress(encode(spans, resource), mtime=0)
        count += len(spans)
    return count / (time.perf_counter() - started)


if __name__ == "__main__":
    tune_gc()
    main()
