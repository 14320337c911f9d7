"""The crash property: for any event log and any crash point, a crash and a restart emit
exactly the findings that a run without a crash emits, none twice and none lost."""

from __future__ import annotations

import sqlite3
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from engine.helpers import MIN, T0, user_service
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.engine import Engine, EngineChanges
from sentinel.envelope import Envelope, Malformed
from sentinel.findings import Finding
from sentinel.store.base import StateStore, StoredState, TopicPartition
from sentinel.store.batches import Fed, process_batch, restore
from sentinel.store.memory import MemoryStore
from sentinel.store.sqlite import SqliteStore

TYPES = (
    "SchemaV2_Ready",
    "UserServiceV2_Running",
    "MessagingService_Reconfigured",
    "Rollback_Initiated",
    "Rollback_Complete",
    "Unrelated_Thing",
)
TOPIC = "rollout.events"
UNTIL = T0 + 6 * 60 * MIN


@st.composite
def event_logs(draw: st.DrawFn) -> list[Fed]:
    """Records over two partitions: a few rollouts, repeated ids, events without id or time,
    times that sometimes go back, malformed records."""
    records: list[Fed] = []
    next_offset = {0: 0, 1: 0}
    clock = T0
    for _ in range(draw(st.integers(min_value=1, max_value=40))):
        partition = draw(st.sampled_from((0, 1)))
        offset = next_offset[partition]
        next_offset[partition] += 1
        origin = f"{TOPIC}/{partition}@{offset}"
        kind = draw(st.sampled_from(("event", "event", "event", "untimed", "malformed")))
        if kind == "malformed":
            records.append(Fed(Malformed("not JSON", origin), (TOPIC, partition), offset, clock))
            continue
        at = clock + draw(st.integers(min_value=-5, max_value=9)) * MIN
        event_id = draw(st.one_of(st.none(), st.sampled_from([f"e{n}" for n in range(30)])))
        envelope = Envelope(
            type=draw(st.sampled_from(TYPES)),
            id=event_id,
            source="/crash",
            time=None if kind == "untimed" else at,
            data={"rollout_id": draw(st.sampled_from(("r1", "r2", "r3")))},
            origin=origin,
        )
        if envelope.time is not None:
            clock = max(clock, envelope.time)
        records.append(Fed(envelope, (TOPIC, partition), offset, clock))
    return records


def in_batches(records: Sequence[Fed], sizes: Sequence[int]) -> list[list[Fed]]:
    batches, start, turn = [], 0, 0
    while start < len(records):
        size = sizes[turn % len(sizes)]
        batches.append(list(records[start : start + size]))
        start, turn = start + size, turn + 1
    return batches


class Crash(Exception):
    """The process dies here."""


class Recorded:
    """The store under test, keeping what each commit emitted, dying at a chosen commit."""

    def __init__(self, store: StateStore, emitted: list[Finding], die_at: int | None) -> None:
        self.store = store
        self.emitted = emitted
        self.die_at = die_at  # -n: just before the n-th commit; n: just after it
        self.commits = 0

    @property
    def connection(self) -> sqlite3.Connection:
        return self.store.connection

    def load(self) -> StoredState:
        return self.store.load()

    def offsets(self) -> dict[TopicPartition, int]:
        return self.store.offsets()

    def begin(self) -> None:
        self.store.begin()

    def new_findings(self, findings: Sequence[Finding]) -> list[Finding]:
        return self.store.new_findings(findings)

    def commit(
        self,
        changes: EngineChanges,
        findings: Sequence[Finding],
        offsets: Mapping[TopicPartition, int],
    ) -> None:
        self.commits += 1
        if self.die_at == -self.commits:
            raise Crash
        self.store.commit(changes, findings, offsets)
        # Committed with the state, in one transaction: what the alert outbox holds.
        self.emitted += findings
        if self.die_at == self.commits:
            raise Crash

    def close(self) -> None:
        self.store.close()


def run_through(
    kind: str,
    records: Sequence[Fed],
    sizes: Sequence[int],
    crashes: Sequence[tuple[int, int]],
    directory: Path,
    skip_by_offset: bool = True,
) -> Counter[Finding]:
    """Every finding emitted by processing the log in batches of `sizes`, to the end.

    At each (commit, redelivered) of `crashes`, the process dies at that commit of its life
    and starts again: a new engine restored from the store, reading again from up to
    `redelivered` records before the first record not kept (Kafka's at-least-once).
    Without `skip_by_offset`, the driver does not know the stored offsets and applies the
    redelivered records again: event ids and emitted finding ids must recognise them, which
    they do within the retention (here longer than the log, whose ids are then all kept).
    """
    emitted: list[Finding] = []
    memory = MemoryStore()  # in one process, it outlives the engine, not the process
    pending = list(crashes)
    resume = 0
    while True:
        store: StateStore = memory if kind == "memory" else SqliteStore(directory / "state.db")
        recorded = Recorded(store, emitted, pending[0][0] if pending else None)
        retention_s = 2 * 60 * MIN if skip_by_offset else 24 * 60 * MIN
        engine = Engine([user_service()], retention_s=retention_s)
        stored = restore(engine, recorded).offsets
        positions = dict(stored) if skip_by_offset else {}
        try:
            for batch in in_batches(records[resume:], sizes):
                process_batch(engine, recorded, batch, positions)
            process_batch(engine, recorded, [], positions, until=UNTIL)
        except Crash:
            _, redelivered = pending.pop(0)
            resume = max(0, first_not_kept(records, store.offsets()) - redelivered)
            continue
        finally:
            if kind == "sqlite":
                store.close()
        return Counter(emitted)


def first_not_kept(records: Sequence[Fed], offsets: Mapping[TopicPartition, int]) -> int:
    for index, fed in enumerate(records):
        if fed.offset >= offsets.get(fed.partition, 0):
            return index
    return len(records)


crash_points = st.tuples(
    st.integers(min_value=-8, max_value=8).filter(lambda n: n != 0),
    st.integers(min_value=0, max_value=4),
)


@pytest.mark.parametrize("skip_by_offset", [True, False], ids=["offsets", "ids-only"])
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@settings(max_examples=75, deadline=None)
@given(
    records=event_logs(),
    sizes=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=4),
    crashes=st.lists(crash_points, min_size=1, max_size=3),
)
def test_a_crash_and_a_restart_emit_exactly_the_findings_of_a_run_without_one(
    kind: str,
    skip_by_offset: bool,
    records: list[Fed],
    sizes: list[int],
    crashes: list[tuple[int, int]],
) -> None:
    with tempfile.TemporaryDirectory() as calm, tempfile.TemporaryDirectory() as crashing:
        expected = run_through(kind, records, sizes, [], Path(calm))
        crashed = run_through(kind, records, sizes, crashes, Path(crashing), skip_by_offset)
    assert crashed == expected
