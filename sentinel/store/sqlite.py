"""The single-replica store: one local SQLite file (stdlib sqlite3, WAL) on a persistent volume."""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from sentinel.core.engine.findings import Finding
from sentinel.core.engine.ports import EngineChanges
from sentinel.core.engine.rollout import RolloutState
from sentinel.core.errors import StoreError
from sentinel.core.events.records import Partition
from sentinel.core.ports.history import (
    DEFAULT_HISTORY_RETENTION_S,
    ClosedRollout,
    ExpectationOf,
    closed_in,
)
from sentinel.core.ports.outbox import Outbox
from sentinel.core.ports.store import LocalStore, StoredState
from sentinel.store import history_table
from sentinel.store.codec import (
    RolloutRow,
    dump_writer_memory,
    load_rollout,
    load_writer_memory,
    rollout_row,
)
from sentinel.store.emitted import EmittedIds
from sentinel.store.sqlite_file import Checkpointer, insert_rows, lock_file
from sentinel.store.sqlite_outbox import SqliteOutbox
from sentinel.store.sqlite_schema import APPLICATION_ID, MIGRATIONS, SCHEMA, SCHEMA_VERSION

# Past this many WAL pages (64 MiB), a commit checkpoints itself: the background thread can
# fall behind when writes never pause, and the WAL must not grow without bound.
_WAL_PAGES_MAX = 16384

# A rollout as written: phase, closed_at, and the body of codec.dump_body.
StoredRollout = tuple[str, float | None, bytes]
_PUT_ROLLOUT = "INSERT OR REPLACE INTO rollouts VALUES (?, ?, ?, ?, ?, ?, ?)"
_ROLLOUT_COLUMNS = "expectation, key, phase, closed_at, state"
_START_OVER = "move the file away to start empty from Kafka's committed offsets"


class SqliteStore(LocalStore):
    """State, finding ids, offsets and the alert outbox in one file; a batch, one transaction."""

    def __init__(
        self,
        path: str | Path,
        history_retention_s: float = DEFAULT_HISTORY_RETENTION_S,
        on_commit: Callable[[float], None] | None = None,
    ) -> None:
        """`on_commit` is told how many seconds each kept batch took, from BEGIN to COMMIT."""
        self.path = Path(path)
        self.history_retention_s = history_retention_s
        self._on_commit = on_commit
        self._lock = lock_file(self.path)
        try:
            # Autocommit mode: transactions are opened and closed here, never implicitly,
            # so the outbox's writes inside a batch are part of it.
            # Not bound to a thread: the caller may commit from a worker thread, one at a time.
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as error:
            os.close(self._lock)
            raise StoreError(
                f"{self.path}: cannot open the state file ({error}): check that its directory "
                "exists and is writable"
            ) from None
        try:
            self._prepare()
        except sqlite3.DatabaseError as error:
            self._conn.close()
            os.close(self._lock)
            raise StoreError(
                f"{self.path}: not a usable state file ({error}): {_START_OVER}"
            ) from None
        except StoreError:
            self._conn.close()
            os.close(self._lock)
            raise
        self._outbox: SqliteOutbox | None = None
        self._checkpointer = Checkpointer(self.path)
        self._checkpointer.start()

    def _prepare(self) -> None:
        conn = self._conn
        conn.execute("PRAGMA journal_mode=WAL")
        # In WAL mode, NORMAL fsyncs at checkpoints, not at each commit: a crash of the
        # process loses nothing committed, and a power loss or an OS crash may lose the last
        # batches (about a second) but never corrupts the file. Against that rare loss (an
        # alert said twice, or the effects of records whose Kafka commit got through), FULL
        # would pay an fsync on every commit: about a fifth of the throughput.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        # Rollout keys are often random (UUIDs), and so are the pages their rows are on: a
        # page cache that holds the hot part of the file (32 MiB; the default is 2) saves
        # reading them again for each batch.
        conn.execute("PRAGMA cache_size=-32768")
        conn.execute(f"PRAGMA wal_autocheckpoint={_WAL_PAGES_MAX}")
        # After a large batch the WAL would keep its size; beyond this it is truncated.
        conn.execute("PRAGMA journal_size_limit=16777216")
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
        if application_id == 0 and tables.fetchone()[0] == 0:
            self._run_in_transaction(
                *SCHEMA,
                f"INSERT INTO schema_version VALUES ({SCHEMA_VERSION})",
                "INSERT INTO engine_clock VALUES (NULL)",
                f"PRAGMA application_id={APPLICATION_ID}",
            )
        elif application_id != APPLICATION_ID:
            raise StoreError(
                f"{self.path}: this SQLite file is not a sentinel state file: point state.path "
                "at a file of its own"
            )
        version = conn.execute("SELECT version FROM schema_version").fetchone()
        while version is not None and version[0] in MIGRATIONS:
            self._run_in_transaction(*MIGRATIONS[version[0]])
            version = (version[0] + 1,)
        if version is None or version[0] != SCHEMA_VERSION:
            found = "no" if version is None else version[0]
            raise StoreError(
                f"{self.path}: the state file has schema version {found}, this sentinel reads "
                f"version {SCHEMA_VERSION}: run the sentinel version that wrote it, or "
                f"{_START_OVER}"
            )
        self._emitted = EmittedIds(
            conn.execute("SELECT id, at FROM emitted_findings ORDER BY rowid")
        )

    def _run_in_transaction(self, *statements: str) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        for statement in statements:
            self._conn.execute(statement)
        self._conn.execute("COMMIT")

    def load(self, partitions: Collection[Partition] | None = None) -> StoredState:
        conn = self._conn
        try:
            if partitions is not None:
                return StoredState(
                    rollouts=[r for p in partitions for r in self.rollouts_homed_in(p)],
                    clock=self._clock(),
                    offsets={p: o for p, o in self.offsets().items() if p in partitions},
                )
            rollouts = [
                load_rollout(*row)
                for row in conn.execute(f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts")
            ]
            seen = conn.execute("SELECT source, id, at FROM seen_events").fetchall()
            unregistered = [row[0] for row in conn.execute("SELECT type FROM unregistered_types")]
            writers = conn.execute("SELECT type, memory FROM writer_schemas")
            return StoredState(
                rollouts=rollouts,
                seen_events=seen,
                unregistered_types=unregistered,
                writer_ids={row[0]: load_writer_memory(*row) for row in writers},
                clock=self._clock(),
                offsets=self.offsets(),
            )
        except sqlite3.DatabaseError as error:
            raise self._unreadable(error) from None

    def _clock(self) -> float:
        clock = self._conn.execute("SELECT clock FROM engine_clock").fetchone()[0]
        return float("-inf") if clock is None else float(clock)

    def offsets(self) -> dict[Partition, int]:
        try:
            rows = self._conn.execute("SELECT topic, partition, next_offset FROM offsets")
            return {Partition(topic, index): offset for topic, index, offset in rows}
        except sqlite3.DatabaseError as error:
            raise self._unreadable(error) from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[SqliteBatch]:
        conn = self._conn
        batch = SqliteBatch(self)
        began = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield batch
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            _roll_back(conn)
            raise StoreError(
                f"{self.path}: cannot write the state ({error}): check the volume's free space "
                "and permissions; the batch was not kept and is read again on restart"
            ) from None
        except BaseException:
            _roll_back(conn)
            raise
        self._emitted.kept(batch.emitted, batch.horizon)
        if self._on_commit is not None:
            self._on_commit(time.perf_counter() - began)

    def outbox(self) -> Outbox:
        if self._outbox is None:
            self._outbox = SqliteOutbox(self._conn)
        return self._outbox

    def history(self, expectation: str | None = None) -> Iterator[ClosedRollout]:
        try:
            yield from history_table.newest_first(self._conn, expectation)
        except sqlite3.DatabaseError as error:
            raise self._unreadable(error) from None

    def closed_rollout(self, expectation: str, key: str) -> ClosedRollout | None:
        try:
            return history_table.one(self._conn, expectation, key)
        except sqlite3.DatabaseError as error:
            raise self._unreadable(error) from None

    def history_horizon(self, clock: float) -> float | None:
        """Entries closed before this are forgotten by a batch on this clock."""
        return _finite(clock - self.history_retention_s)

    def _write(
        self,
        changes: EngineChanges,
        findings: Sequence[Finding],
        offsets: Mapping[Partition, int],
        emitted: list[tuple[str, float]],
        closed: Sequence[ClosedRollout],
    ) -> list[RolloutRow]:
        """A batch's rows, inside the open transaction; the rollouts' rows, as written."""
        conn = self._conn
        kept: list[RolloutRow] = []
        gone: list[tuple[str, str]] = []
        for (name, key), rollout in changes.rollouts.items():
            if rollout is None:
                gone.append((name, key))
            else:
                kept.append(rollout_row(rollout))
        insert_rows(conn, _PUT_ROLLOUT, kept)
        conn.executemany("DELETE FROM rollouts WHERE expectation = ? AND key = ?", gone)
        insert_rows(conn, "INSERT INTO seen_events VALUES (?, ?, ?)", changes.new_events)
        conn.executemany(
            "INSERT OR IGNORE INTO unregistered_types VALUES (?)",
            [(event_type,) for event_type in changes.new_unregistered],
        )
        conn.executemany(
            "INSERT OR REPLACE INTO writer_schemas VALUES (?, ?)",
            [(name, dump_writer_memory(memory)) for name, memory in changes.writer_ids.items()],
        )
        insert_rows(conn, "INSERT INTO emitted_findings VALUES (?, ?)", emitted)
        self._put_offsets(offsets)
        self._advance_clock(changes.clock)
        horizon = _finite(changes.horizon)
        if horizon is not None:
            _drop_older(conn, "seen_events", horizon)
            _drop_older(conn, "emitted_findings", horizon)
            conn.execute("DELETE FROM rollouts WHERE closed_at < ?", (horizon,))
        if closed:
            # The history entry holds the state as its row was just written: not made twice.
            history_table.put(conn, closed, {(row[0], row[1]): row[4] for row in kept})
        history_horizon = self.history_horizon(changes.clock)
        if history_horizon is not None:
            history_table.prune(conn, history_horizon)
        return kept

    def _put_offsets(self, offsets: Mapping[Partition, int]) -> None:
        self._conn.executemany(
            "INSERT OR REPLACE INTO offsets VALUES (?, ?, ?)",
            [(topic, index, offset) for (topic, index), offset in offsets.items()],
        )

    def _advance_clock(self, clock: float) -> None:
        finite = _finite(clock)
        if finite is not None:
            self._conn.execute(
                "UPDATE engine_clock SET clock = max(coalesce(clock, ?1), ?1)", (finite,)
            )

    # ---- for the changelog mode: the rollouts of one partition ------------------------------

    def homes_of(
        self, identities: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], Partition | None]:
        """The owning partition of each stored rollout (where a deleted one's tombstone goes)."""
        homes: dict[tuple[str, str], Partition | None] = {}
        for name, key in identities:
            row = self._conn.execute(
                "SELECT home_topic, home_partition FROM rollouts WHERE expectation = ? AND key = ?",
                (name, key),
            ).fetchone()
            if row is not None:
                homes[(name, key)] = _home(*row)
        return homes

    def closed_before(self, horizon: float) -> dict[tuple[str, str], Partition | None]:
        """Closed rollouts that a commit with this horizon deletes, with their partition."""
        rows = self._conn.execute(
            "SELECT expectation, key, home_topic, home_partition FROM rollouts WHERE closed_at < ?",
            (horizon,),
        )
        return {(name, key): _home(topic, index) for name, key, topic, index in rows}

    def rollouts_homed_in(self, partition: Partition) -> list[RolloutState]:
        try:
            rows = self._conn.execute(
                f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts"
                " WHERE home_topic = ? AND home_partition = ?",
                partition,
            ).fetchall()
        except sqlite3.DatabaseError as error:
            raise self._unreadable(error) from None
        return [load_rollout(*row) for row in rows]

    def put_partition(
        self,
        partition: Partition,
        rollouts: Mapping[tuple[str, str], StoredRollout | None],
        offset: int | None,
        clock: float,
        unregistered: Iterable[str] = (),
        *,
        wipe: bool = False,
    ) -> None:
        """One transaction: rollouts of a partition as read from elsewhere, in their byte form
        (`wipe`: all of them, its other rollouts are deleted), its offset and the clock."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            if wipe:
                conn.execute(
                    "DELETE FROM rollouts WHERE home_topic = ? AND home_partition = ?", partition
                )
            conn.executemany(
                _PUT_ROLLOUT,
                [(*identity, *kept, *partition) for identity, kept in rollouts.items() if kept],
            )
            conn.executemany(
                "DELETE FROM rollouts WHERE expectation = ? AND key = ?",
                [identity for identity, rollout in rollouts.items() if rollout is None],
            )
            if offset is not None:
                self._put_offsets({partition: offset})
            conn.executemany(
                "INSERT OR IGNORE INTO unregistered_types VALUES (?)",
                [(event_type,) for event_type in unregistered],
            )
            self._advance_clock(clock)
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            _roll_back(conn)
            raise StoreError(f"{self.path}: cannot write the state ({error})") from None

    def writer_id(self) -> str:
        """This file's name in the changelogs it writes: made once, kept for good."""
        row = self._conn.execute("SELECT id FROM changelog_writer").fetchone()
        if row is not None:
            return str(row[0])
        writer = uuid.uuid4().hex
        self._conn.execute("INSERT INTO changelog_writer VALUES (?)", (writer,))
        return writer

    def snapshot_position(self, partition: Partition) -> tuple[int, bool] | None:
        """(changelog offset this file holds the partition as of, whether it is dirty)."""
        row = self._conn.execute(
            "SELECT changelog_next, dirty FROM changelog_positions"
            " WHERE topic = ? AND partition = ?",
            partition,
        ).fetchone()
        return None if row is None else (int(row[0]), bool(row[1]))

    def mark_dirty(self, partitions: Iterable[Partition]) -> None:
        """Inside a batch: the file is ahead of these partitions' changelogs."""
        self._conn.executemany(
            "INSERT INTO changelog_positions VALUES (?, ?, 0, 1) "
            "ON CONFLICT (topic, partition) DO UPDATE SET dirty = 1",
            sorted(partitions),
        )

    def set_snapshot_positions(self, positions: Mapping[Partition, tuple[int, bool]]) -> None:
        """One transaction: per partition, the changelog offset the file now holds, dirty or not."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT OR REPLACE INTO changelog_positions VALUES (?, ?, ?, ?)",
                [(*tp, end, int(dirty)) for tp, (end, dirty) in positions.items()],
            )
            self._conn.execute("COMMIT")
        except sqlite3.Error as error:
            _roll_back(self._conn)
            raise StoreError(f"{self.path}: cannot write the state ({error})") from None

    # ---- for the changelog mode: the history topic ------------------------------------------

    def history_closed_before(self, clock: float) -> dict[tuple[str, str], Partition]:
        """Entries that a batch on this clock prunes, with the partition that owned them."""
        horizon = self.history_horizon(clock)
        return {} if horizon is None else history_table.closed_before(self._conn, horizon)

    def mark_history_unsent(self, identities: Iterable[tuple[str, str]]) -> None:
        """Inside a batch: these entries are not in the history topic yet."""
        self._conn.executemany("INSERT OR IGNORE INTO history_unsent VALUES (?, ?)", identities)

    def unsent_history(self) -> list[ClosedRollout]:
        """Entries closed here that the history topic never acknowledged (a crash)."""
        rows = self._conn.execute("SELECT expectation, key FROM history_unsent").fetchall()
        found = [history_table.one(self._conn, name, key) for name, key in rows]
        return [entry for entry in found if entry is not None]

    def put_history(
        self,
        rows: Sequence[history_table.HistoryRow],
        gone: Sequence[tuple[str, str]],
        sent: Sequence[tuple[str, str]],
    ) -> None:
        """One transaction: entries read from the history topic (`gone`: its tombstones), and
        the identities it acknowledged."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            insert_rows(conn, history_table.PUT, rows)
            conn.executemany("DELETE FROM history WHERE expectation = ? AND key = ?", gone)
            conn.executemany(
                "DELETE FROM history_unsent WHERE expectation = ? AND key = ?", [*sent, *gone]
            )
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            _roll_back(conn)
            raise StoreError(f"{self.path}: cannot write the history ({error})") from None

    def _unreadable(self, error: sqlite3.Error) -> StoreError:
        return StoreError(f"{self.path}: cannot read the state ({error}): {_START_OVER}")

    def close(self) -> None:
        """Close without committing: a batch still open is lost, exactly as in a crash."""
        if self._lock < 0:
            return  # closed already
        self._checkpointer.stop()
        self._conn.close()
        os.close(self._lock)
        self._lock = -1


class SqliteBatch:
    """A batch's writes, straight into the open transaction."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self.emitted: list[tuple[str, float]] = []
        self.horizon = float("-inf")
        self.closed: list[ClosedRollout] = []  # what `write` put in the history
        self.rows: list[RolloutRow] = []  # the rollouts `write` put, as written

    def fresh(self, findings: Sequence[Finding]) -> list[Finding]:
        return self._store._emitted.fresh(findings)

    def write(
        self,
        changes: EngineChanges,
        findings: Sequence[Finding],
        offsets: Mapping[Partition, int],
        expectation_of: ExpectationOf | None = None,
    ) -> None:
        self.emitted = self._store._emitted.rows(findings)
        self.horizon = changes.horizon
        self.closed = [] if expectation_of is None else closed_in(changes, expectation_of)
        self.rows = self._store._write(changes, findings, offsets, self.emitted, self.closed)


def _home(topic: str | None, index: int | None) -> Partition | None:
    return None if topic is None or index is None else Partition(topic, index)


def _roll_back(conn: sqlite3.Connection) -> None:
    """Undo the open batch, if any; a connection too broken even for that undoes it anyway."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _drop_older(conn: sqlite3.Connection, table: str, horizon: float) -> None:
    """Delete the rows read before the horizon; rows are appended in clock order, so they
    are the first rowids, and this costs what it deletes."""
    first_kept = conn.execute(
        f"SELECT rowid FROM {table} WHERE at >= ? ORDER BY rowid LIMIT 1", (horizon,)
    ).fetchone()
    if first_kept is None:
        conn.execute(f"DELETE FROM {table}")
    else:
        conn.execute(f"DELETE FROM {table} WHERE rowid < ?", first_kept)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
