"""The crash property through the real span outbox (contract section 13): whatever the crash
points, the store's outbox ends up holding exactly the spans of a run without a crash, each
once and the same, because `SpanExport` enqueues them in the transaction that keeps the state
they show (`test_crash.py` checks the spans the pipeline hands over; this, what is kept)."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest
from engine.helpers import MIN, user_service
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.alerting.sinks.otlp_settings import OtlpSettings
from sentinel.alerting.span_export import SpanExport
from sentinel.core.engine.engine import Engine
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.events.records import Record
from sentinel.core.pipeline.pipeline import Pipeline, WallClock
from sentinel.core.ports.store import StateStore
from sentinel.store.memory import MemoryStore
from sentinel.store.sqlite import SqliteStore

from .helpers import TraceClock
from .test_crash import UNTIL, Crash, Recorded, crash_points, event_logs, first_not_kept, in_batches


def exported(
    kind: str,
    records: Sequence[Record],
    sizes: Sequence[int],
    crashes: Sequence[tuple[int, int]],
    directory: Path,
) -> Counter[bytes]:
    """Every span the outbox holds once the log went through, dying at each of `crashes`
    (commit, records redelivered) and starting again from the store, as `run_through` does."""
    memory = MemoryStore()
    pending = list(crashes)
    resume = 0
    while True:
        store: StateStore = memory if kind == "memory" else SqliteStore(directory / "state.db")
        recorded = Recorded(store, [], set(), pending[0][0] if pending else None)
        spans = SpanExport(OtlpSettings("http://collector:4318"), store.outbox(), {})
        engine = Engine([user_service()], retention_s=2 * 60 * MIN)
        pipeline = Pipeline(engine, recorded, BusDecoder(), spans=spans)  # type: ignore[arg-type]
        pipeline.restore()
        try:
            for batch in in_batches(records[resume:], sizes):
                end = batch[-1].timestamp
                assert end is not None
                pipeline.process(batch, TraceClock(end))
            pipeline.process([], WallClock(UNTIL))
        except Crash:
            _, redelivered = pending.pop(0)
            resume = max(0, first_not_kept(records, store.offsets()) - redelivered)
            if kind == "sqlite":
                store.close()
            continue
        items = store.outbox().take_due("otlp", "", float("inf"), 10**6)
        if kind == "sqlite":
            store.close()
        return Counter(
            orjson.dumps(span, option=orjson.OPT_SORT_KEYS)
            for item in items
            for span in item.payload["spans"]
        )


@pytest.mark.slow  # the property, many examples: `make test` runs it, not `make unit`
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@settings(max_examples=40, deadline=None)
@given(
    records=event_logs(),
    sizes=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=4),
    crashes=st.lists(crash_points, min_size=1, max_size=3),
)
def test_a_crash_and_a_restart_keep_exactly_the_spans_of_a_run_without_one(
    kind: str, records: list[Record], sizes: list[int], crashes: list[tuple[int, int]]
) -> None:
    with tempfile.TemporaryDirectory() as calm, tempfile.TemporaryDirectory() as crashing:
        expected = exported(kind, records, sizes, [], Path(calm))
        crashed = exported(kind, records, sizes, crashes, Path(crashing))
    assert crashed == expected
    assert set(expected.values()) <= {1}, "each span once"
