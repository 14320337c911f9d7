"""The history of closed rollouts, memory and SQLite alike: a rollout that closes is kept with
its last view and its findings, listed newest first, kept across a restart (SQLite) and
forgotten once older than `history.retention` on the engine's clock."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from engine.helpers import MIN, T0, event, run, user_service

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Kind
from sentinel.core.engine.snapshots import Phase
from sentinel.core.errors import StoreError
from sentinel.core.events.envelope import Envelope
from sentinel.store import history_table
from sentinel.store.memory import MemoryStore
from sentinel.store.sqlite import SqliteStore

from .conftest import Stores

HOUR = 60 * MIN
NAME = "user-service-v2"


def completed(rollout: str, at: float) -> list[Envelope]:
    return [
        event("SchemaV2_Ready", at, rollout),
        event("UserServiceV2_Running", at + 2 * MIN, rollout),
        event("MessagingService_Reconfigured", at + 3 * MIN, rollout),
    ]


def test_a_rollout_that_closes_is_kept_with_its_last_view_and_findings(stores: Stores) -> None:
    store = stores.open()
    engine = Engine([user_service()])
    run(engine, [*completed("late", T0), event("SchemaV2_Ready", T0, "open")], store=store)
    run(engine, [event("Rollback_Initiated", T0 + 4 * MIN, "open")], store=store)
    run(engine, [event("Rollback_Complete", T0 + 5 * MIN, "open")], store=store)

    entry = store.closed_rollout(NAME, "open")
    assert entry is not None
    assert entry.view.phase is Phase.ROLLED_BACK
    assert [f.kind for f in entry.findings] == [Kind.ROLLBACK, Kind.ROLLED_BACK]
    assert entry.view.compensation is not None
    assert entry.view.compensation.event_id is not None  # the counted event, for the audit
    assert store.closed_rollout(NAME, "nobody") is None


def test_a_stall_and_its_recovery_are_among_the_findings_of_the_closed_rollout(
    stores: Stores,
) -> None:
    store = stores.open()
    engine = Engine([user_service()])
    events = completed("slow", T0)
    events[1] = event("UserServiceV2_Running", T0 + 12 * MIN, "slow")  # due at T0+10m
    events[2] = event("MessagingService_Reconfigured", T0 + 13 * MIN, "slow")
    run(engine, events, store=store)

    entry = store.closed_rollout(NAME, "slow")
    assert entry is not None
    assert [f.kind for f in entry.findings] == [Kind.STALL, Kind.RECOVERED, Kind.COMPLETED]
    assert [step.stalled for step in entry.view.steps] == [False, True, False]


def test_the_history_lists_the_newest_opened_first_and_by_expectation(stores: Stores) -> None:
    store = stores.open()
    engine = Engine([user_service()])
    run(engine, [*completed("first", T0), *completed("second", T0 + MIN)], store=store)
    assert [e.view.rollout for e in store.history()] == ["second", "first"]
    assert [e.view.rollout for e in store.history(NAME)] == ["second", "first"]
    assert list(store.history("another-expectation")) == []


def test_the_history_survives_a_restart_of_the_state_file(tmp_path: Path) -> None:
    """(The memory store lives and dies with its process: only the file has a restart.)"""
    store = SqliteStore(tmp_path / "state.db")
    run(Engine([user_service()]), completed("kept", T0), store=store)
    store.close()
    reopened = SqliteStore(tmp_path / "state.db")
    entry = reopened.closed_rollout(NAME, "kept")
    reopened.close()
    assert entry is not None
    assert entry.view.phase is Phase.COMPLETED


def test_an_open_rollout_keeps_its_findings_across_a_restart(stores: Stores) -> None:
    engine = Engine([user_service()])
    run(engine, [event("SchemaV2_Ready", T0, "stuck")], until=T0 + 11 * MIN, store=stores.open())
    state = stores.open().load()
    [stuck] = state.rollouts
    assert [f.kind for f in stuck.findings] == [Kind.STALL]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_history_older_than_its_retention_on_the_engines_clock_is_forgotten(
    kind: str, tmp_path: Path
) -> None:
    store = MemoryStore(HOUR) if kind == "memory" else SqliteStore(tmp_path / "s.db", HOUR)
    try:
        engine = Engine([user_service()], retention_s=float("inf"))
        run(engine, completed("old", T0), store=store)
        run(engine, completed("young", T0 + 30 * MIN), store=store)
        assert {e.view.rollout for e in store.history()} == {"old", "young"}
        # Closed at T0+3m: an hour later on the engine's clock, and a batch, forget it.
        run(engine, [event("SchemaV2_Ready", T0 + 64 * MIN, "next")], store=store)
        assert [e.view.rollout for e in store.history()] == ["young"]
    finally:
        store.close()


def test_a_state_file_of_version_2_gains_an_empty_history(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("DROP TABLE history")
        raw.execute("DROP TABLE history_unsent")
        raw.execute("DROP TABLE writer_schemas")
        raw.execute("UPDATE schema_version SET version = 2")
    raw.close()
    store = SqliteStore(path)
    try:
        assert list(store.history()) == []
        run(Engine([user_service()]), completed("after", T0), store=store)
        assert [e.view.rollout for e in store.history()] == ["after"]
    finally:
        store.close()


def test_the_history_of_a_file_is_read_while_a_sentinel_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    try:
        run(Engine([user_service()]), completed("audited", T0), store=store)
        entries = list(history_table.read_file(path))
    finally:
        store.close()
    assert [entry.view.rollout for entry in entries] == ["audited"]


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda path: None, "no such state file"),
        (lambda path: path.write_bytes(b"not a database at all" * 100), "not a sentinel state"),
        (
            lambda path: sqlite3.connect(path).execute("CREATE TABLE x (y)").connection.commit(),
            "not a sentinel state file",
        ),
    ],
)
def test_reading_the_history_of_something_else_is_a_store_error(
    tmp_path: Path, prepare: Callable[[Path], object], message: str
) -> None:
    path = tmp_path / "state.db"
    prepare(path)
    with pytest.raises(StoreError, match=message):
        list(history_table.read_file(path))


def test_the_history_of_a_file_of_version_3_is_read_without_upgrading_it(tmp_path: Path) -> None:
    # `sentinel report --state` on the file of a sentinel one release older.
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    try:
        run(Engine([user_service()]), completed("audited", T0), store=store)
    finally:
        store.close()
    with sqlite3.connect(path) as raw:
        raw.execute("DROP TABLE writer_schemas")
        raw.execute("UPDATE schema_version SET version = 3")
    raw.close()
    assert [entry.view.rollout for entry in history_table.read_file(path)] == ["audited"]


def test_a_file_from_before_the_history_says_how_to_upgrade_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE schema_version SET version = 2")
    raw.close()
    with pytest.raises(StoreError, match="run `sentinel run` on it once"):
        list(history_table.read_file(path))
