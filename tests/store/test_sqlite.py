"""What only the SQLite store does: its file format, refusing files it cannot trust, its size."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from engine.helpers import MIN, T0, event

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.ports import EngineChanges
from sentinel.core.errors import StoreError
from sentinel.core.events.records import Partition
from sentinel.store.sqlite import SqliteStore

from .conftest import commit
from .test_stores import HOUR, keep, rollouts_in_every_phase, sentinel


def checkpoint(path: Path) -> None:
    """Copy the WAL into the file, from a connection of its own, as another process may."""
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()


def filled(path: Path) -> None:
    """A state file with a few rollouts in it, closed again."""
    store = SqliteStore(path)
    engine = sentinel()
    keep(store, engine, engine.apply(rollouts_in_every_phase()[3], T0), {Partition("a", 0): 1})
    store.close()


def test_the_file_is_in_wal_mode_with_normal_sync(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    try:
        # White box: synchronous is a setting of the store's own connection.
        assert store._conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert store._conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    finally:
        store.close()


def test_a_file_of_another_schema_version_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    filled(path)
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE schema_version SET version = 5")
    raw.close()
    with pytest.raises(StoreError, match="schema version 5, this sentinel reads version 4") as err:
        SqliteStore(path)
    assert "move the file away" in str(err.value)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"these are not the pages you are looking for\n" * 200)
    with pytest.raises(StoreError, match="not a usable state file"):
        SqliteStore(path)


def test_a_database_of_another_program_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE accounts (id INTEGER)")
    raw.close()
    with pytest.raises(StoreError, match="not a sentinel state file"):
        SqliteStore(path)
    assert sqlite3.connect(path).execute("SELECT count(*) FROM accounts").fetchone() == (0,)


def test_damaged_pages_give_a_store_error_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    engine = sentinel()
    events = [event("SchemaV2_Ready", T0 + n, f"r{n}") for n in range(2000)]
    keep(store, engine, [f for e in events for f in engine.apply(e, e.time or T0)])
    store.close()
    checkpoint(path)
    data = bytearray(path.read_bytes())
    page = 4096
    for start in range(2 * page, len(data) - page, 3 * page):  # every third page but the first
        data[start : start + page] = os.urandom(page)
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="move the file away"):
        damaged = SqliteStore(path)
        try:
            damaged.load()
        finally:
            damaged.close()


def test_a_damaged_rollout_names_the_rollout(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    filled(path)
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE rollouts SET state = x'5b312c32'")
    raw.close()
    store = SqliteStore(path)
    try:
        with pytest.raises(StoreError, match="rollout user-service-v2/stalled is damaged"):
            store.load()
    finally:
        store.close()


def test_a_missing_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="check that the directory exists"):
        SqliteStore(tmp_path / "no-such-volume" / "state.db")


def test_a_second_sentinel_on_the_same_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first = SqliteStore(path)
    with pytest.raises(StoreError, match="another sentinel is using"):
        SqliteStore(path)
    first.close()
    SqliteStore(path).close()


def test_the_file_stays_the_same_size_over_a_long_run_of_completed_rollouts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    engine = Engine(sentinel().expectations.values(), retention_s=HOUR)
    sizes = []
    steps = ("SchemaV2_Ready", "UserServiceV2_Running", "MessagingService_Reconfigured")
    for round_ in range(24):
        start = T0 + round_ * 2 * HOUR
        for batch in range(10):  # 30 rollouts a batch, each one complete within it
            findings = []
            for minute, step in enumerate(steps):
                at = start + batch * 5 * MIN + minute * MIN
                findings += engine.advance(at)
                for n in range(30):
                    findings += engine.apply(event(step, at, f"r{round_}-{batch}-{n}"), at)
            keep(store, engine, findings)
        checkpoint(path)
        sizes.append(path.stat().st_size)
    # 7,200 rollouts and 21,600 event ids went through; one retention's worth is kept.
    assert len(store.load().rollouts) <= 300
    assert sizes[-1] <= sizes[3] * 1.1, sizes
    store.close()


def test_a_killed_process_leaves_the_last_committed_batch_whole(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    # Each batch writes one rollout and the offset that counts them, in one transaction.
    writer = textwrap.dedent(
        f"""
        import sys
        from sentinel.core.engine.ports import EngineChanges
        from sentinel.core.engine.rollout import RolloutState
        from sentinel.core.events.records import Partition
        from sentinel.store.sqlite import SqliteStore
        store = SqliteStore({str(path)!r})
        n = 0
        while True:
            rollout = RolloutState("exp", f"r{{n}}", {T0} + n)
            changes = EngineChanges({{("exp", rollout.key): rollout}}, [], [], {T0} + n, 0.0)
            with store.transaction() as batch:
                batch.write(changes, [], {{Partition("t", 0): n + 1}})
            n += 1
            if n == 200:
                print("ready", flush=True)
        """
    )
    with subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE) as child:
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        child.send_signal(signal.SIGKILL)
    store = SqliteStore(path)
    try:
        state = store.load()
        committed = state.offsets[Partition("t", 0)]
        assert committed >= 200
        assert len(state.rollouts) == committed
        assert state.clock == T0 + committed - 1
    finally:
        store.close()


def test_the_horizon_of_the_first_batch_may_be_minus_infinity(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    try:
        inf = float("inf")
        commit(store, EngineChanges({}, [("s", "e1", T0)], [], -inf, -inf))
        state = store.load()
        assert list(state.seen_events) == [("s", "e1", T0)]
        assert state.clock == -inf
    finally:
        store.close()


def test_committed_batches_reach_the_database_file_without_a_checkpoint_in_commit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    try:
        engine = sentinel()
        events = [event("SchemaV2_Ready", T0 + n, f"r{n}") for n in range(3000)]
        keep(store, engine, [f for e in events for f in engine.apply(e, e.time or T0)])
        # The commit left its pages in the WAL (far below the size where a commit would
        # copy them itself); the background thread copies them soon after.
        deadline = time.monotonic() + 5
        while path.stat().st_size < 300_000:
            assert time.monotonic() < deadline, path.stat().st_size
            time.sleep(0.05)
    finally:
        store.close()


VERSION_1 = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "INSERT INTO schema_version VALUES (1)",
    "CREATE TABLE engine_clock (clock REAL)",
    f"INSERT INTO engine_clock VALUES ({T0})",
    """CREATE TABLE rollouts (expectation TEXT NOT NULL, key TEXT NOT NULL, phase TEXT NOT NULL,
        closed_at REAL, state BLOB NOT NULL, feed TEXT, PRIMARY KEY (expectation, key))
        WITHOUT ROWID""",
    "CREATE INDEX rollouts_closed ON rollouts (closed_at) WHERE closed_at IS NOT NULL",
    "CREATE TABLE seen_events (source TEXT NOT NULL, id TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE TABLE unregistered_types (type TEXT PRIMARY KEY) WITHOUT ROWID",
    "CREATE TABLE emitted_findings (id TEXT NOT NULL, at REAL NOT NULL)",
    """CREATE TABLE offsets (topic TEXT NOT NULL, partition INTEGER NOT NULL,
        next_offset INTEGER NOT NULL, PRIMARY KEY (topic, partition)) WITHOUT ROWID""",
    "INSERT INTO offsets VALUES ('rollout.events', 2, 41)",
    # As version 0.1 wrote it: eight fields, the partitions as text.
    f"""INSERT INTO rollouts VALUES ('user-service-v2', 'r1', 'open', NULL,
        '[{T0},{{"SchemaV2_Ready":{T0}}},{{"UserServiceV2_Running":{T0 + 600}}},[],2,null,null,
        ["rollout.events/2"]]', 'rollout.events/2')""",
    "PRAGMA application_id=1381191252",
)


def test_a_file_of_version_1_is_brought_to_the_current_version_and_keeps_its_rollouts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as raw:
        for statement in VERSION_1:
            raw.execute(statement)
    raw.close()
    store = SqliteStore(path)
    try:
        home = Partition("rollout.events", 2)
        [rollout] = store.load([home]).rollouts
        assert (rollout.key, rollout.home, rollout.due) == (
            "r1",
            home,
            {"UserServiceV2_Running": T0 + 600},
        )
        assert store.offsets() == {home: 41}
        assert store.load().clock == T0
    finally:
        store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT version FROM schema_version").fetchone() == (4,)
        assert raw.execute("SELECT count(*) FROM history").fetchone() == (0,)
        assert raw.execute("SELECT count(*) FROM writer_schemas").fetchone() == (0,)
    raw.close()
