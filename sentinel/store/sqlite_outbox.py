"""The alert outbox in SQLite: findings waiting in grouping windows, deliveries waiting for
their sink, and what each sink remembers about alerted rollouts; nothing is lost to a restart.

`SqliteOutbox` takes a path (its own connection, WAL) or the `sqlite3.Connection` of a state
store: every write joins a transaction already open on that connection (a savepoint), so the
store commits engine state and the alerts it caused together (sentinel.core.ports.outbox.Outbox).
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sentinel.core.engine.findings import Finding
from sentinel.core.engine.snapshots import view_from_json, view_to_json
from sentinel.core.errors import StoreError
from sentinel.core.ports.outbox import Held, Item, Thread

# The outbox's own schema version (table alert_outbox_version): 1 had no lanes, priorities,
# tallies or kinds; 2 has them.
VERSION = 2
_ITEMS_INDEX = (
    "CREATE INDEX IF NOT EXISTS alert_items_lane "
    "ON alert_items (sink, lane, priority, seq) WHERE state = 'pending'"
)
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS alert_held (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        sink TEXT NOT NULL,
        bucket TEXT NOT NULL,
        destination TEXT NOT NULL,
        opens INTEGER NOT NULL,
        finding TEXT NOT NULL,
        view TEXT,
        held_at REAL NOT NULL,
        close_at REAL NOT NULL,
        flushed_at REAL,
        kind TEXT,
        count INTEGER NOT NULL DEFAULT 1
    )""",
    "CREATE INDEX IF NOT EXISTS alert_held_open ON alert_held (close_at) WHERE flushed_at IS NULL",
    "CREATE INDEX IF NOT EXISTS alert_held_bucket ON alert_held (sink, bucket, flushed_at)",
    """CREATE TABLE IF NOT EXISTS alert_items (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        sink TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        enqueued_at REAL NOT NULL,
        next_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        done_at REAL,
        lane TEXT NOT NULL DEFAULT '',
        priority INTEGER NOT NULL DEFAULT 0
    )""",
    _ITEMS_INDEX,
    """CREATE TABLE IF NOT EXISTS alert_threads (
        sink TEXT NOT NULL,
        key TEXT NOT NULL,
        channel TEXT NOT NULL,
        ts TEXT,
        shared INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        opened_at REAL NOT NULL,
        resolved_at REAL,
        firing TEXT NOT NULL,
        history TEXT NOT NULL,
        lane TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (sink, key)
    )""",
)
# Version -> the statements that bring an outbox of that version to the next, in one transaction.
_MIGRATIONS = {
    # Lanes: a thread's lane is the channel it has now (for a posted parent Slack's id, which
    # every later delivery of the thread uses). A pending delivery takes its thread's lane,
    # else its channel, else "" (the one lane of the sinks without channels): within a
    # channel the old order holds. Held findings and pending items keep their old meaning.
    1: (
        "ALTER TABLE alert_held ADD COLUMN kind TEXT",
        "ALTER TABLE alert_held ADD COLUMN count INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE alert_items ADD COLUMN lane TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE alert_items ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE alert_threads ADD COLUMN lane TEXT NOT NULL DEFAULT ''",
        "UPDATE alert_threads SET lane = channel",
        """UPDATE alert_items SET lane = coalesce(
            (SELECT t.lane FROM alert_threads t WHERE t.sink = alert_items.sink
                AND t.key = json_extract(alert_items.payload, '$.thread')),
            json_extract(payload, '$.channel'), '')
        WHERE state = 'pending'""",
        "DROP INDEX IF EXISTS alert_items_due",
        _ITEMS_INDEX,
    ),
}
_HELD_COLUMNS = "key, sink, bucket, destination, opens, finding, view, held_at, close_at, count"
_ITEM_COLUMNS = "key, sink, payload, enqueued_at, attempts, next_at, lane, priority"
_THREAD_COLUMNS = "channel, ts, shared, failed, opened_at, resolved_at, firing, history, lane"
_savepoints = itertools.count()


class SqliteOutbox:
    """The outbox in SQLite (stdlib sqlite3); ":memory:" for tests and stateless runs."""

    def __init__(self, db: sqlite3.Connection | str | Path) -> None:
        self._owned = not isinstance(db, sqlite3.Connection)
        if isinstance(db, sqlite3.Connection):
            self._conn = db
        else:
            try:
                self._conn = sqlite3.connect(str(db), isolation_level=None)
            except sqlite3.Error as error:
                raise StoreError(
                    f"{db}: cannot open the alert outbox ({error}): check that its folder "
                    "exists and is writable"
                ) from None
        try:
            if self._owned:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.execute("PRAGMA busy_timeout=5000")
            self._prepare()
        except StoreError as error:
            self.close()
            raise StoreError(f"{db}: {error}") from None
        except sqlite3.DatabaseError as error:
            self.close()
            raise StoreError(
                f"{db}: not a usable SQLite database ({error}): point the outbox at a file of "
                "its own"
            ) from None

    def _prepare(self) -> None:
        """Create the tables, or bring an older outbox up to them (issue 22 added lanes)."""
        conn = self._conn
        with self.transaction():
            conn.execute("CREATE TABLE IF NOT EXISTS alert_outbox_version (version INTEGER)")
            row = conn.execute("SELECT version FROM alert_outbox_version").fetchone()
            if row is None:
                # Version 1 had no version table: its items table tells an older outbox.
                old = conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alert_items'"
                ).fetchone()
                version = 1 if old is not None else VERSION
                conn.execute("INSERT INTO alert_outbox_version VALUES (?)", (version,))
            else:
                version = row[0]
            while version in _MIGRATIONS:
                for statement in _MIGRATIONS[version]:
                    conn.execute(statement)
                version += 1
            if version != VERSION:
                raise StoreError(
                    f"the alert outbox has version {version}, this sentinel reads version "
                    f"{VERSION}: run the sentinel version that wrote it"
                )
            conn.execute("UPDATE alert_outbox_version SET version = ?", (version,))
            for statement in _SCHEMA:
                conn.execute(statement)

    def close(self) -> None:
        """Close the connection if the outbox opened it."""
        if self._owned:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        conn = self._conn
        if conn.in_transaction:
            name = f"alert_outbox_{next(_savepoints)}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
                raise
            conn.execute(f"RELEASE {name}")
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def hold(self, held: Held) -> bool:
        with self.transaction():
            cursor = self._conn.execute(
                f"INSERT OR IGNORE INTO alert_held ({_HELD_COLUMNS}, kind) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (*_held_row(held), str(held.finding.kind)),
            )
        return cursor.rowcount == 1

    def hold_sampled(self, held: Held, sample: int) -> bool:
        kind = str(held.finding.kind)
        with self.transaction():
            known = self._conn.execute("SELECT 1 FROM alert_held WHERE key = ?", (held.key,))
            if known.fetchone() is not None:
                return False
            (kept,) = self._conn.execute(
                "SELECT COUNT(*) FROM alert_held "
                "WHERE sink = ? AND bucket = ? AND flushed_at IS NULL AND kind = ?",
                (held.sink, held.bucket, kind),
            ).fetchone()
            if kept < sample:
                return self.hold(held)
            # One tally row per window and kind: its key names them, so it is found again.
            tally = f"{held.sink}|{held.bucket}|{kind}|{held.close_at!r}|tally"
            self._conn.execute(
                f"INSERT INTO alert_held ({_HELD_COLUMNS}, kind) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT (key) DO UPDATE SET count = count + 1, finding = excluded.finding",
                (tally, *_held_row(held)[1:], kind),
            )
        return True

    def forget_flushed(self, sink: str, bucket: str, before: float) -> None:
        with self.transaction():
            self._conn.execute(
                "DELETE FROM alert_held WHERE sink = ? AND bucket = ? AND flushed_at < ?",
                (sink, bucket, before),
            )

    def bucket_times(self, sink: str, bucket: str) -> tuple[float | None, float | None]:
        row = self._conn.execute(
            "SELECT MIN(CASE WHEN flushed_at IS NULL THEN close_at END), MAX(flushed_at) "
            "FROM alert_held WHERE sink = ? AND bucket = ?",
            (sink, bucket),
        ).fetchone()
        return row[0], row[1]

    def next_close(self) -> float | None:
        row = self._conn.execute(
            "SELECT MIN(close_at) FROM alert_held WHERE flushed_at IS NULL"
        ).fetchone()
        return row[0]  # type: ignore[no-any-return]

    def take_closed(self, now: float) -> list[Held]:
        with self.transaction():
            rows = self._conn.execute(
                f"SELECT seq, {_HELD_COLUMNS} FROM alert_held "
                "WHERE flushed_at IS NULL AND close_at <= ? ORDER BY seq",
                (now,),
            ).fetchall()
            self._conn.executemany(
                "UPDATE alert_held SET flushed_at = ? WHERE seq = ?",
                [(now, row[0]) for row in rows],
            )
        return [_held(row[1:]) for row in rows]

    def enqueue(self, item: Item) -> bool:
        with self.transaction():
            cursor = self._conn.execute(
                f"INSERT OR IGNORE INTO alert_items ({_ITEM_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
                (
                    item.key,
                    item.sink,
                    _dump(item.payload),
                    item.enqueued_at,
                    item.attempts,
                    item.next_at,
                    item.lane,
                    item.priority,
                ),
            )
        return cursor.rowcount == 1

    def take_due(self, sink: str, lane: str, now: float, limit: int) -> list[Item]:
        rows = self._conn.execute(
            f"SELECT {_ITEM_COLUMNS} FROM alert_items WHERE sink = ? AND lane = ? "
            "AND state = 'pending' ORDER BY priority, seq LIMIT ?",
            (sink, lane, limit),
        ).fetchall()
        items = []
        for row in rows:
            if row[5] > now:
                break  # in order: an item waiting for its retry holds back those behind it
            items.append(
                Item(
                    key=row[0],
                    sink=row[1],
                    payload=json.loads(row[2]),
                    enqueued_at=row[3],
                    attempts=row[4],
                    next_at=row[5],
                    lane=row[6],
                    priority=row[7],
                )
            )
        return items

    def lanes(self, sink: str) -> dict[str, float]:
        names = self._conn.execute(
            "SELECT DISTINCT lane FROM alert_items WHERE sink = ? AND state = 'pending'", (sink,)
        ).fetchall()
        heads = {}
        for (lane,) in names:
            (due,) = self._conn.execute(
                "SELECT next_at FROM alert_items WHERE sink = ? AND lane = ? "
                "AND state = 'pending' ORDER BY priority, seq LIMIT 1",
                (sink, lane),
            ).fetchone()
            heads[lane] = float(due)
        return heads

    def mark_delivered(self, key: str, now: float) -> None:
        self._update_item(
            "UPDATE alert_items SET state = 'delivered', done_at = ?, attempts = attempts + 1 "
            "WHERE key = ?",
            (now, key),
        )

    def schedule_retry(self, key: str, at: float, error: str) -> None:
        self._update_item(
            "UPDATE alert_items SET next_at = ?, attempts = attempts + 1, last_error = ? "
            "WHERE key = ?",
            (at, error, key),
        )

    def mark_failed(self, key: str, now: float, error: str) -> None:
        self._update_item(
            "UPDATE alert_items SET state = 'failed', done_at = ?, attempts = attempts + 1, "
            "last_error = ? WHERE key = ?",
            (now, error, key),
        )

    def thread(self, sink: str, key: str) -> Thread | None:
        row = self._conn.execute(
            f"SELECT {_THREAD_COLUMNS} FROM alert_threads WHERE sink = ? AND key = ?", (sink, key)
        ).fetchone()
        return None if row is None else _thread(row)

    def save_thread(self, sink: str, key: str, thread: Thread) -> None:
        with self.transaction():
            self._conn.execute(
                f"INSERT OR REPLACE INTO alert_threads (sink, key, {_THREAD_COLUMNS}) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    sink,
                    key,
                    thread.channel,
                    thread.ts,
                    int(thread.shared),
                    int(thread.failed),
                    thread.opened_at,
                    thread.resolved_at,
                    _dump(list(thread.firing)),
                    _dump(list(thread.history)),
                    thread.lane,
                ),
            )

    def firing(self, sink: str) -> list[Thread]:
        rows = self._conn.execute(
            f"SELECT {_THREAD_COLUMNS} FROM alert_threads "
            "WHERE sink = ? AND firing != '[]' ORDER BY opened_at",
            (sink,),
        ).fetchall()
        return [_thread(row) for row in rows]

    def depth(self, sink: str) -> int:
        held = self._conn.execute(
            "SELECT coalesce(SUM(count), 0) FROM alert_held WHERE sink = ? AND flushed_at IS NULL",
            (sink,),
        ).fetchone()[0]
        pending = self._conn.execute(
            "SELECT COUNT(*) FROM alert_items WHERE sink = ? AND state = 'pending'", (sink,)
        ).fetchone()[0]
        return int(held) + int(pending)

    def failed(self, sink: str) -> int:
        row = self._conn.execute(
            "SELECT COUNT(*) FROM alert_items WHERE sink = ? AND state = 'failed'", (sink,)
        ).fetchone()
        return int(row[0])

    def prune(self, before: float) -> None:
        with self.transaction():
            self._conn.execute("DELETE FROM alert_held WHERE flushed_at < ?", (before,))
            self._conn.execute(
                "DELETE FROM alert_items WHERE state != 'pending' AND done_at < ?", (before,)
            )
            self._conn.execute("DELETE FROM alert_threads WHERE resolved_at < ?", (before,))

    def forget_done(self, sink: str, before: float) -> None:
        with self.transaction():
            self._conn.execute(
                "DELETE FROM alert_items WHERE sink = ? AND state != 'pending' AND done_at < ?",
                (sink, before),
            )

    def _update_item(self, statement: str, parameters: tuple[Any, ...]) -> None:
        with self.transaction():
            self._conn.execute(statement, parameters)


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _held_row(held: Held) -> tuple[Any, ...]:
    return (
        held.key,
        held.sink,
        held.bucket,
        held.destination,
        int(held.opens),
        _dump(held.finding.to_json_dict()),
        None if held.view is None else _dump(view_to_json(held.view)),
        held.held_at,
        held.close_at,
        held.count,
    )


def _held(row: tuple[Any, ...]) -> Held:
    return Held(
        key=row[0],
        sink=row[1],
        bucket=row[2],
        destination=row[3],
        opens=bool(row[4]),
        finding=Finding.from_json_dict(json.loads(row[5])),
        view=None if row[6] is None else view_from_json(json.loads(row[6])),
        held_at=row[7],
        close_at=row[8],
        count=row[9],
    )


def _thread(row: tuple[Any, ...]) -> Thread:
    firing: list[Mapping[str, Any]] = json.loads(row[6])
    return Thread(
        channel=row[0],
        ts=row[1],
        shared=bool(row[2]),
        failed=bool(row[3]),
        opened_at=row[4],
        resolved_at=row[5],
        firing=tuple(firing),
        history=tuple(json.loads(row[7])),
        lane=row[8],
    )
