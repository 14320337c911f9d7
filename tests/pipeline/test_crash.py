"""The crash property: for any event log and any crash point, a crash and a restart emit
exactly the findings that a run without a crash emits, none twice and none lost, and the
same spans (ids and content; contract section 13). Standard output, which cannot join a
transaction, gets them at least once: the same findings, some perhaps written again."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from engine.helpers import MIN, T0, user_service
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding
from sentinel.core.engine.spans import Span, span_to_json
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.events.envelope import Envelope, Malformed
from sentinel.core.events.records import Partition, Record
from sentinel.core.pipeline.pipeline import Pipeline, WallClock
from sentinel.core.ports.history import ExpectationOf
from sentinel.core.ports.store import Batch, StateStore
from sentinel.store.memory import MemoryStore
from sentinel.store.sqlite import SqliteStore

from .helpers import TOPIC, TraceClock, record

TYPES = (
    "SchemaV2_Ready",
    "UserServiceV2_Running",
    "MessagingService_Reconfigured",
    "Rollback_Initiated",
    "Rollback_Complete",
    "Unrelated_Thing",
)
TRACEPARENTS = (
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "not a traceparent",
)
SORTED = orjson.OPT_SORT_KEYS
UNTIL = T0 + 6 * 60 * MIN


@st.composite
def event_logs(draw: st.DrawFn) -> list[Record]:
    """Records over two partitions: a few rollouts, repeated ids, events without id or time,
    times that sometimes go back, malformed records. Each is read at the clock it carries."""
    records: list[Record] = []
    next_offset = {0: 0, 1: 0}
    clock = T0
    for _ in range(draw(st.integers(min_value=1, max_value=40))):
        partition = Partition(TOPIC, draw(st.sampled_from((0, 1))))
        offset = next_offset[partition.number]
        next_offset[partition.number] += 1
        kind = draw(st.sampled_from(("event", "event", "event", "untimed", "malformed")))
        if kind == "malformed":
            records.append(record(Malformed("not JSON"), offset, partition, clock))
            continue
        at = clock + draw(st.integers(min_value=-5, max_value=9)) * MIN
        event_id = draw(st.one_of(st.none(), st.sampled_from([f"e{n}" for n in range(30)])))
        envelope = Envelope(
            type=draw(st.sampled_from(TYPES)),
            id=event_id,
            source="/crash",
            time=None if kind == "untimed" else at,
            data={"rollout_id": draw(st.sampled_from(("r1", "r2", "r3")))},
            # Trace context rides along: the findings' trace ids must survive the crash too.
            attributes={"traceparent": draw(st.sampled_from(TRACEPARENTS))},
        )
        if envelope.time is not None:
            clock = max(clock, envelope.time)
        records.append(record(envelope, offset, partition, clock))
    return records


def in_batches(records: Sequence[Record], sizes: Sequence[int]) -> list[list[Record]]:
    batches, start, turn = [], 0, 0
    while start < len(records):
        size = sizes[turn % len(sizes)]
        batches.append(list(records[start : start + size]))
        start, turn = start + size, turn + 1
    return batches


class Crash(Exception):
    """The process dies here."""


class Recorded:
    """The store under test, keeping what each transaction emitted, dying at a chosen one."""

    def __init__(
        self, store: StateStore, emitted: list[Finding], spans: set[bytes], die_at: int | None
    ) -> None:
        self.store = store
        self.emitted = emitted
        self.spans = spans  # each exported span's JSON: ids and content
        self.pending: list[Span] = []  # handed over in the transaction under way
        self.die_at = die_at  # -n: just before the n-th commit; n: just after it
        self.commits = 0

    def export(self, spans: Sequence[Span]) -> None:
        """The pipeline's Spans port: what the outbox would get, in the batch's transaction."""
        self.pending += spans

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    @contextmanager
    def transaction(self) -> Iterator[Batch]:
        self.commits += 1
        self.pending = []
        with self.store.transaction() as batch:
            watched = _Watched(batch)
            yield watched
            if self.die_at == -self.commits:
                raise Crash
        # Committed with the state, in one transaction: what the alert outbox holds.
        self.emitted += watched.findings
        self.spans.update(orjson.dumps(span_to_json(span), option=SORTED) for span in self.pending)
        if self.die_at == self.commits:
            raise Crash


class _Watched:
    def __init__(self, batch: Batch) -> None:
        self._batch = batch
        self.findings: list[Finding] = []

    def fresh(self, findings: Sequence[Finding]) -> list[Finding]:
        return self._batch.fresh(findings)

    def write(
        self,
        changes: Any,
        findings: Sequence[Finding],
        offsets: Mapping[Any, int],
        expectation_of: ExpectationOf | None = None,
    ) -> None:
        self.findings = list(findings)
        self._batch.write(changes, findings, offsets, expectation_of)


class Written:
    """The pipeline's output (standard output live): every finding it was given to write."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def write_findings(self, findings: Sequence[Finding]) -> None:
        self.findings += findings


def run_through(
    kind: str,
    records: Sequence[Record],
    sizes: Sequence[int],
    crashes: Sequence[tuple[int, int]],
    directory: Path,
    skip_by_offset: bool = True,
) -> tuple[Counter[Finding], set[bytes], Counter[Finding]]:
    """Every finding emitted by processing the log through the pipeline in batches of `sizes`.

    At each (commit, redelivered) of `crashes`, the process dies at that commit of its life
    and starts again: a new engine restored from the store, reading again from up to
    `redelivered` records before the first record not kept (Kafka's at-least-once).
    The spans exported are returned too: a crash may send one again, never a different one.
    So are the findings written to the output, which may be written again after a crash.
    Without `skip_by_offset`, the pipeline does not know the stored offsets and applies the
    redelivered records again: event ids and emitted finding ids must recognise them, which
    they do within the retention (here longer than the log, whose ids are then all kept).
    """
    emitted: list[Finding] = []
    spans: set[bytes] = set()
    written = Written()  # standard output: it outlives every crash
    memory = MemoryStore()  # in one process, it outlives the engine, not the process
    pending = list(crashes)
    resume = 0
    while True:
        store: StateStore = memory if kind == "memory" else SqliteStore(directory / "state.db")
        recorded = Recorded(store, emitted, spans, pending[0][0] if pending else None)
        retention_s = 2 * 60 * MIN if skip_by_offset else 24 * 60 * MIN
        pipeline = Pipeline(
            Engine([user_service()], retention_s=retention_s), recorded, BusDecoder()
        )
        pipeline.spans = recorded
        pipeline.output = written
        pipeline.restore()
        if not skip_by_offset:
            pipeline.positions.clear()
        try:
            for batch in in_batches(records[resume:], sizes):
                end = batch[-1].timestamp
                assert end is not None
                pipeline.process(batch, TraceClock(end))
            pipeline.process([], WallClock(UNTIL))
        except Crash:
            _, redelivered = pending.pop(0)
            resume = max(0, first_not_kept(records, store.offsets()) - redelivered)
            continue
        finally:
            if kind == "sqlite":
                store.close()
        return Counter(emitted), spans, Counter(written.findings)


def first_not_kept(records: Sequence[Record], offsets: Mapping[Partition, int]) -> int:
    for index, each in enumerate(records):
        if each.offset >= offsets.get(each.partition, 0):
            return index
    return len(records)


crash_points = st.tuples(
    st.integers(min_value=-8, max_value=8).filter(lambda n: n != 0),
    st.integers(min_value=0, max_value=4),
)


@pytest.mark.slow  # the property, many examples: `make test` runs it, not `make unit`
@pytest.mark.parametrize("skip_by_offset", [True, False], ids=["offsets", "ids-only"])
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@settings(max_examples=75, deadline=None)
@given(
    records=event_logs(),
    sizes=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=4),
    crashes=st.lists(crash_points, min_size=1, max_size=3),
)
def test_a_crash_and_a_restart_emit_exactly_the_findings_and_spans_of_a_run_without_one(
    kind: str,
    skip_by_offset: bool,
    records: list[Record],
    sizes: list[int],
    crashes: list[tuple[int, int]],
) -> None:
    with tempfile.TemporaryDirectory() as calm, tempfile.TemporaryDirectory() as crashing:
        expected = run_through(kind, records, sizes, [], Path(calm))
        crashed = run_through(kind, records, sizes, crashes, Path(crashing), skip_by_offset)
    assert crashed[:2] == expected[:2]  # kept findings, each once; spans, same ids and content
    # Standard output: without a crash, each kept finding written once; with crashes, a finding
    # may be written again (it is written before its batch commits), none lost, none different.
    assert expected[2] == expected[0]
    assert set(crashed[2]) == set(expected[0])
    assert all(crashed[2][finding] <= 1 + len(crashes) for finding in crashed[2])
