"""What a state file needs besides its tables: one writer at a time (a lock file), the WAL
copied into the database file off the batch path (a checkpoint thread), values bound
without sqlite3's adaptation protocol, and rows inserted many to a statement."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Sequence
from itertools import chain
from pathlib import Path
from typing import Any

from sentinel.core.errors import StoreError

# How often the background thread copies the WAL into the database file.
CHECKPOINT_EVERY_S = 0.5


def _null(value: None) -> None:
    return value


# sqlite3 binds exact int, float, str and bytearray values as they are; any other value, bytes
# and None included, goes through its adaptation protocol, which without a registered adapter
# raises and formats two AttributeErrors before binding it as it is. A rollout's row has its
# bytes and up to three NULLs: 4.6 us a row against 2.4 us with these adapters (each binds the
# value unchanged), about 3% of a live batch. Registered for the whole process: sqlite3 keeps
# one registry, and binding the value itself is what it did without them.
sqlite3.register_adapter(bytes, bytes)  # bytes(b) is b itself
sqlite3.register_adapter(type(None), _null)


# Rows per statement, largest first: a batch's rows go in statements of these sizes, so that
# sqlite3 keeps a few prepared statements per table (its cache holds 128), not one per count.
ROWS_PER_STATEMENT = (64, 8, 1)
_statements: dict[tuple[str, int], str] = {}


def insert_rows(conn: sqlite3.Connection, insert: str, rows: Sequence[Sequence[Any]]) -> None:
    """`insert` ("INSERT ... VALUES (?, ?)", one row) for every row, many rows a statement.

    executemany runs a statement once per row: binding, stepping and resetting it, and the
    Python around each, cost about as much as SQLite's own work on these tables. With 64 rows
    a statement, 500 rows of three values took 1.1 us each against 2.2 us (same transaction,
    timeit, one run). Rows are inserted in their order, so a later row replaces an earlier one
    with its key as it would one statement later."""
    start = 0
    for size in ROWS_PER_STATEMENT:
        end = start + (len(rows) - start) // size * size
        if end == start:
            continue
        if size == 1:
            conn.executemany(insert, rows[start:end])
        else:
            statement = _statements.get((insert, size))
            if statement is None:
                head, group = insert.rsplit("VALUES", 1)
                statement = _statements[(insert, size)] = (
                    f"{head}VALUES {', '.join([group.strip()] * size)}"
                )
            conn.executemany(
                statement,
                [list(chain.from_iterable(rows[at : at + size])) for at in range(start, end, size)],
            )
        start = end


class Checkpointer(threading.Thread):
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


def lock_file(path: Path) -> int:
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
