"""The history table of a state file: closed rollouts, written by the store's batches (and, in
changelog mode, by what other replicas closed), read page by page by the rollout API, and
read-only by `sentinel report --state` while a sentinel may be writing the file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from sentinel.core.errors import StoreError
from sentinel.core.events.records import Partition
from sentinel.core.ports.history import ClosedRollout
from sentinel.store.history_codec import entry_bytes, load_entry
from sentinel.store.sqlite_file import insert_rows
from sentinel.store.sqlite_schema import APPLICATION_ID, HISTORY_SINCE, SCHEMA_VERSION

# A history entry as written: (expectation, key, opened_at, closed_at, topic, partition, entry).
HistoryRow = tuple[str, str, float, float, str | None, int | None, bytes]
PUT = "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?, ?, ?, ?)"
# Rows fetched at a time: no cursor stays open between pages, so a batch may commit between.
PAGE = 200


def row(entry: ClosedRollout, state: bytes | None = None) -> HistoryRow:
    """The row of an entry; `state`: its rollout's `codec.dump_body`, when at hand already."""
    name, key = entry.identity
    home = entry.home
    return (
        name,
        key,
        entry.opened_at,
        entry.closed_at,
        None if home is None else home.topic,
        None if home is None else home.number,
        entry_bytes(entry, state),
    )


def put(
    conn: sqlite3.Connection,
    entries: Iterable[ClosedRollout],
    states: Mapping[tuple[str, str], bytes] | None = None,
) -> None:
    """`states`: the rollouts' `codec.dump_body` by identity, as the batch wrote their rows."""
    found = states or {}
    insert_rows(conn, PUT, [row(entry, found.get(entry.identity)) for entry in entries])


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
    return None if found is None else load_entry(found[0])


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
            yield load_entry(entry)
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
            yield load_entry(entry)
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
