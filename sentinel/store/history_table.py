"""The history table of a state file: closed rollouts, written by the store's batches (and, in
changelog mode, by what other replicas closed), read page by page by the rollout API, and
read-only by `sentinel report --state` while a sentinel may be writing the file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from sentinel.core.errors import StoreError
from sentinel.core.events.records import Partition
from sentinel.core.ports.history import ClosedRollout, load_closed
from sentinel.store.sqlite_file import insert_rows
from sentinel.store.sqlite_schema import APPLICATION_ID, HISTORY_SINCE, SCHEMA_VERSION

# A history entry as written: (expectation, key, opened_at, closed_at, topic, partition, entry).
HistoryRow = tuple[str, str, float, float, str | None, int | None, bytes]
PUT = "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?, ?, ?, ?)"
# Rows fetched at a time: no cursor stays open between pages, so a batch may commit between.
PAGE = 200


def row(entry: ClosedRollout, body: bytes | None = None) -> HistoryRow:
    """The row of an entry; `body`: its bytes when they are at hand already."""
    view, home = entry.view, entry.home
    return (
        view.expectation,
        view.rollout,
        view.opened_at,
        view.closed_at if view.closed_at is not None else view.opened_at,
        None if home is None else home.topic,
        None if home is None else home.number,
        entry.dump() if body is None else body,
    )


def put(conn: sqlite3.Connection, entries: Iterable[ClosedRollout]) -> None:
    insert_rows(conn, PUT, [row(entry) for entry in entries])


def closed_before(conn: sqlite3.Connection, horizon: float) -> dict[tuple[str, str], Partition]:
    """Entries older than the horizon (about to be pruned) that name their partition."""
    rows = conn.execute(
        "SELECT expectation, key, home_topic, home_partition FROM history"
        " WHERE closed_at < ? AND home_topic IS NOT NULL",
        (horizon,),
    )
    return {(name, key): Partition(topic, index) for name, key, topic, index in rows}


def prune(conn: sqlite3.Connection, horizon: float) -> None:
    conn.execute("DELETE FROM history WHERE closed_at < ?", (horizon,))


def one(conn: sqlite3.Connection, expectation: str, key: str) -> ClosedRollout | None:
    found = conn.execute(
        "SELECT entry FROM history WHERE expectation = ? AND key = ?", (expectation, key)
    ).fetchone()
    return None if found is None else load_closed(found[0])


def newest_first(conn: sqlite3.Connection, expectation: str | None) -> Iterator[ClosedRollout]:
    """Every entry (of one expectation), newest opened first, a page at a time."""
    conditions = [] if expectation is None else ["expectation = ?"]
    wanted: tuple[str, ...] = () if expectation is None else (expectation,)
    after: tuple[float, str, str] | None = None
    while True:
        where = [*conditions, *(["(opened_at, expectation, key) < (?, ?, ?)"] if after else [])]
        rows = conn.execute(
            "SELECT opened_at, expectation, key, entry FROM history"
            f" {'WHERE ' + ' AND '.join(where) if where else ''}"
            " ORDER BY opened_at DESC, expectation DESC, key DESC LIMIT ?",
            (*wanted, *(after or ()), PAGE),
        ).fetchall()
        for *_, entry in rows:
            yield load_closed(entry)
        if len(rows) < PAGE:
            return
        after = rows[-1][:3]


def read_file(path: Path) -> Iterator[ClosedRollout]:
    """The history of a state file, oldest opened first, without writing to it (a sentinel
    may hold it); StoreError when it is not a state file with a history."""
    if not path.is_file():
        raise StoreError(f"{path}: no such state file")
    try:
        conn = sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise StoreError(f"{path}: cannot open the state file ({error})") from None
    try:
        _check(conn, path)
        rows = conn.execute("SELECT entry FROM history ORDER BY opened_at, expectation, key")
        for (entry,) in rows:
            yield load_closed(entry)
    except sqlite3.Error as error:
        raise StoreError(f"{path}: cannot read the history ({error})") from None
    finally:
        conn.close()


def _check(conn: sqlite3.Connection, path: Path) -> None:
    try:
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    except sqlite3.DatabaseError:
        application_id = None
    if application_id != APPLICATION_ID:
        raise StoreError(f"{path}: not a sentinel state file")
    version = conn.execute("SELECT version FROM schema_version").fetchone()[0]
    if version < HISTORY_SINCE:
        raise StoreError(
            f"{path}: the state file has schema version {version}, from before the history "
            "was kept: run `sentinel run` on it once to upgrade it (its history starts then)"
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: the state file has schema version {version}, this sentinel reads "
            f"version {SCHEMA_VERSION}: run the sentinel version that wrote it"
        )
