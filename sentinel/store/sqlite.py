"""The single-replica store: one local SQLite file (stdlib sqlite3, WAL) on a persistent volume."""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from sentinel.engine import EngineChanges, RolloutState
from sentinel.errors import StoreError
from sentinel.findings import Finding
from sentinel.store.base import StoredState, TopicPartition
from sentinel.store.codec import dump_body, load_rollout
from sentinel.store.emitted import EmittedIds

SCHEMA_VERSION = 1
# PRAGMA application_id: tells our file from any other SQLite file ("RSNT").
APPLICATION_ID = 0x52534E54
# How often the background thread copies the WAL into the database file.
CHECKPOINT_EVERY_S = 0.5
# Past this many WAL pages (64 MiB), a commit checkpoints itself: the background thread can
# fall behind when writes never pause, and the WAL must not grow without bound.
_WAL_PAGES_MAX = 16384

_SCHEMA = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    # One row; NULL until the engine's clock has read its first event.
    "CREATE TABLE engine_clock (clock REAL)",
    """CREATE TABLE rollouts (
        expectation TEXT NOT NULL,
        key TEXT NOT NULL,
        phase TEXT NOT NULL,
        closed_at REAL,
        state BLOB NOT NULL,
        -- The partition that opened it, where the changelog mode keeps it. Not indexed: it
        -- is searched on a partition's assignment only, and an index costs 80 bytes a row.
        feed TEXT,
        PRIMARY KEY (expectation, key)
    ) WITHOUT ROWID""",
    "CREATE INDEX rollouts_closed ON rollouts (closed_at) WHERE closed_at IS NOT NULL",
    # No index at all: the engine never reports an id twice, and rows arrive in clock order,
    # so the oldest are the first rowids (pruning walks them). Half the cost of a keyed table.
    "CREATE TABLE seen_events (source TEXT NOT NULL, id TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE TABLE unregistered_types (type TEXT PRIMARY KEY) WITHOUT ROWID",
    # Finding ids are hashes: a keyed table would write a random page for each. They are
    # looked up in memory instead (one retention's worth), and only appended here.
    "CREATE TABLE emitted_findings (id TEXT NOT NULL, at REAL NOT NULL)",
    """CREATE TABLE offsets (
        topic TEXT NOT NULL,
        partition INTEGER NOT NULL,
        next_offset INTEGER NOT NULL,
        PRIMARY KEY (topic, partition)
    ) WITHOUT ROWID""",
)

# A rollout as written: phase, closed_at, and the body of codec.dump_body.
StoredRollout = tuple[str, float | None, bytes]
_PUT_ROLLOUT = "INSERT OR REPLACE INTO rollouts VALUES (?, ?, ?, ?, ?, ?)"
_START_OVER = "move the file away to start empty from Kafka's committed offsets"


class SqliteStore:
    """State, emitted finding ids and offsets in one file; one batch is one transaction."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = _lock(self.path)
        try:
            # Autocommit mode: transactions are opened and closed here, never implicitly,
            # so the outbox's writes between begin() and commit() are part of the batch.
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
        self._checkpointer = _Checkpointer(self.path)
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
            self._create()
        elif application_id != APPLICATION_ID:
            raise StoreError(
                f"{self.path}: this SQLite file is not a sentinel state file: point state.path "
                "at a file of its own"
            )
        version = conn.execute("SELECT version FROM schema_version").fetchone()
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

    def _create(self) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
        conn.execute("INSERT INTO engine_clock VALUES (NULL)")
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute("COMMIT")

    @property
    def connection(self) -> sqlite3.Connection:
        return self._conn

    def load(self) -> StoredState:
        conn = self._conn
        try:
            rollouts = [
                load_rollout(*row)
                for row in conn.execute(
                    "SELECT expectation, key, phase, closed_at, state FROM rollouts"
                )
            ]
            seen = conn.execute("SELECT source, id, at FROM seen_events").fetchall()
            unregistered = [row[0] for row in conn.execute("SELECT type FROM unregistered_types")]
            clock = conn.execute("SELECT clock FROM engine_clock").fetchone()[0]
            offsets = self.offsets()
        except sqlite3.DatabaseError as error:
            raise self._unreadable(error) from None
        return StoredState(
            rollouts=rollouts,
            seen_events=seen,
            unregistered_types=unregistered,
            clock=float("-inf") if clock is None else clock,
            offsets=offsets,
        )

    def offsets(self) -> dict[TopicPartition, int]:
        try:
            rows = self._conn.execute("SELECT topic, partition, next_offset FROM offsets")
            return {(topic, partition): offset for topic, partition, offset in rows}
        except sqlite3.DatabaseError as error:
            raise self._unreadable(error) from None

    def begin(self) -> None:
        if not self._conn.in_transaction:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise StoreError(f"{self.path}: cannot start a write ({error})") from None

    def new_findings(self, findings: Sequence[Finding]) -> list[Finding]:
        self.begin()
        return self._emitted.fresh(findings)

    def commit(
        self,
        changes: EngineChanges,
        findings: Sequence[Finding],
        offsets: Mapping[TopicPartition, int],
    ) -> None:
        conn = self._conn
        kept, gone = [], []
        for (name, key), rollout in changes.rollouts.items():
            if rollout is None:
                gone.append((name, key))
            else:
                kept.append(_row(rollout))
        emitted = self._emitted.rows(findings)
        horizon = _finite(changes.horizon)
        try:
            self.begin()
            conn.executemany(_PUT_ROLLOUT, kept)
            conn.executemany("DELETE FROM rollouts WHERE expectation = ? AND key = ?", gone)
            conn.executemany("INSERT INTO seen_events VALUES (?, ?, ?)", changes.new_events)
            conn.executemany(
                "INSERT OR IGNORE INTO unregistered_types VALUES (?)",
                [(event_type,) for event_type in changes.new_unregistered],
            )
            conn.executemany("INSERT INTO emitted_findings VALUES (?, ?)", emitted)
            conn.executemany(
                "INSERT OR REPLACE INTO offsets VALUES (?, ?, ?)",
                [(topic, partition, offset) for (topic, partition), offset in offsets.items()],
            )
            clock = _finite(changes.clock)
            if clock is not None:
                conn.execute(
                    "UPDATE engine_clock SET clock = max(coalesce(clock, ?), ?)", (clock, clock)
                )
            if horizon is not None:
                _drop_older(conn, "seen_events", horizon)
                _drop_older(conn, "emitted_findings", horizon)
                conn.execute("DELETE FROM rollouts WHERE closed_at < ?", (horizon,))
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            _roll_back(conn)
            raise StoreError(
                f"{self.path}: cannot write the state ({error}): check the volume's free space "
                "and permissions; the batch was not kept and is read again on restart"
            ) from None
        self._emitted.kept(emitted, changes.horizon)

    # ---- for the changelog mode: the rollouts of one partition ------------------------------

    def feeds_of(self, identities: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """The partition of each rollout that is stored (a deleted one's tombstone goes there)."""
        feeds: dict[tuple[str, str], str | None] = {}
        try:
            for name, key in identities:
                row = self._conn.execute(
                    "SELECT feed FROM rollouts WHERE expectation = ? AND key = ?", (name, key)
                ).fetchone()
                if row is not None:
                    feeds[(name, key)] = row[0]
        except sqlite3.DatabaseError as error:
            raise self._unreadable(error) from None
        return feeds

    def closed_before(self, horizon: float) -> dict[tuple[str, str], str | None]:
        """Closed rollouts that a commit with this horizon deletes, with their partition."""
        try:
            rows = self._conn.execute(
                "SELECT expectation, key, feed FROM rollouts WHERE closed_at < ?", (horizon,)
            )
            return {(name, key): feed for name, key, feed in rows}
        except sqlite3.DatabaseError as error:
            raise self._unreadable(error) from None

    def rollouts_fed_by(self, feed: str) -> list[RolloutState]:
        try:
            rows = self._conn.execute(
                "SELECT expectation, key, phase, closed_at, state FROM rollouts WHERE feed = ?",
                (feed,),
            ).fetchall()
        except sqlite3.DatabaseError as error:
            raise self._unreadable(error) from None
        return [load_rollout(*row) for row in rows]

    def put_partition(
        self,
        feed: str,
        rollouts: Mapping[tuple[str, str], StoredRollout | None],
        offsets: Mapping[TopicPartition, int],
        clock: float,
        unregistered: Iterable[str] = (),
        *,
        wipe: bool = False,
    ) -> None:
        """One transaction: rollouts of a partition as read from elsewhere, in their byte form
        (`wipe`: all of them, its other rollouts are deleted), its offset and the clock."""
        conn = self._conn
        try:
            self.begin()
            if wipe:
                conn.execute("DELETE FROM rollouts WHERE feed = ?", (feed,))
            conn.executemany(
                _PUT_ROLLOUT,
                [(*identity, *kept, feed) for identity, kept in rollouts.items() if kept],
            )
            conn.executemany(
                "DELETE FROM rollouts WHERE expectation = ? AND key = ?",
                [identity for identity, rollout in rollouts.items() if rollout is None],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO offsets VALUES (?, ?, ?)",
                [(topic, partition, offset) for (topic, partition), offset in offsets.items()],
            )
            conn.executemany(
                "INSERT OR IGNORE INTO unregistered_types VALUES (?)",
                [(event_type,) for event_type in unregistered],
            )
            finite = _finite(clock)
            if finite is not None:
                conn.execute(
                    "UPDATE engine_clock SET clock = max(coalesce(clock, ?1), ?1)", (finite,)
                )
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            _roll_back(conn)
            raise StoreError(f"{self.path}: cannot write the state ({error})") from None

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


class _Checkpointer(threading.Thread):
    """Copies the WAL into the database file off the batch path, on its own connection.

    A checkpoint copies pages and fsyncs twice: in the committing thread it took a third of
    the store's cost. sqlite3 lets go of the GIL while it works, so here it runs beside the
    engine. PASSIVE never blocks a writer; what it could not copy, the next one does.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(name=f"checkpoint {path.name}", daemon=True)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopping.wait(CHECKPOINT_EVERY_S):
                # Busy, or short of space: the next round, or a commit, catches up.
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            self._conn.close()

    def stop(self) -> None:
        self._stopping.set()
        self.join()


def _lock(path: Path) -> int:
    """Hold `<path>.lock`: two sentinels on one state file would each undo the other's work.

    flock, not SQLite's own locks: those are held only during a transaction. The kernel
    lets go of it when the process dies, so a crash never leaves it behind.
    """
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise StoreError(
            f"{lock_path}: cannot create the state lock ({error.strerror}): check that the "
            "directory exists and is writable"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreError(
            f"{path}: another sentinel is using this state file: give each replica a state "
            "file of its own"
        ) from None
    return fd


def _row(rollout: RolloutState) -> tuple[object, ...]:
    feed = rollout.feeds[0] if rollout.feeds else None
    return (
        rollout.expectation,
        rollout.key,
        str(rollout.phase),
        rollout.closed_at,
        dump_body(rollout),
        feed,
    )


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
