"""Rows inserted many to a statement (sqlite_file.insert_rows) land as one statement a row
would leave them: every row, in order, a later one replacing an earlier one with its key."""

from __future__ import annotations

import sqlite3

import pytest

from sentinel.store.sqlite_file import ROWS_PER_STATEMENT, insert_rows


@pytest.fixture
def conn() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE plain (n INTEGER NOT NULL, name TEXT, body BLOB)")
    conn.execute("CREATE TABLE keyed (k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID")
    return conn


@pytest.mark.parametrize("count", [0, 1, 7, 8, 9, 63, 64, 65, 73, 200, 1000])
def test_every_row_is_inserted_once_in_order(conn: sqlite3.Connection, count: int) -> None:
    rows = [(n, None if n % 3 else f"r-{n}", bytes([n % 256]) * (n % 5)) for n in range(count)]
    insert_rows(conn, "INSERT INTO plain VALUES (?, ?, ?)", rows)
    assert conn.execute("SELECT n, name, body FROM plain ORDER BY rowid").fetchall() == rows


def test_a_later_row_replaces_an_earlier_one_with_its_key_across_statements(
    conn: sqlite3.Connection,
) -> None:
    biggest = ROWS_PER_STATEMENT[0]
    # Keys come back in later statements of each size: within a statement, and across them.
    rows = [(f"k{n % (biggest + 3)}", n) for n in range(2 * biggest + 11)]
    insert_rows(conn, "INSERT OR REPLACE INTO keyed VALUES (?, ?)", rows)
    last = {key: value for key, value in rows}
    assert dict(conn.execute("SELECT k, v FROM keyed").fetchall()) == last
