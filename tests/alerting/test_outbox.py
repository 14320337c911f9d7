"""The SQLite outbox: idempotent, in order within a lane, durable across reopening, able to
share a transaction with the state store, bounded for a digest, and migrated from before lanes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.errors import StoreError
from sentinel.core.ports.outbox import NOISE_PRIORITY, ROLLOUT_PRIORITY, Held, Item, Thread
from sentinel.store.sqlite_outbox import SqliteOutbox

from .helpers import T0, schema_violation, stall, view


def item(key: str, next_at: float = 0.0, sink: str = "slack") -> Item:
    return Item(key=key, sink=sink, payload={"text": key}, enqueued_at=0.0, next_at=next_at)


def held(rollout: str, close_at: float, bucket: str = "rollouts") -> Held:
    finding = stall(rollout)
    return Held(
        f"{finding.id}:slack",
        "slack",
        bucket,
        "#c",
        True,
        finding,
        view(rollout),
        close_at - 30,
        close_at,
    )


def keys(items: list[Item]) -> list[str]:
    return [entry.key for entry in items]


def test_enqueuing_the_same_key_twice_changes_nothing() -> None:
    outbox = SqliteOutbox(":memory:")
    assert outbox.enqueue(item("a")) is True
    assert outbox.enqueue(Item("a", "slack", {"text": "other"}, 5.0)) is False
    [only] = outbox.take_due("slack", "", 10, 50)
    assert only.payload == {"text": "a"}


def test_a_delivered_key_is_not_enqueued_again() -> None:
    outbox = SqliteOutbox(":memory:")
    outbox.enqueue(item("a"))
    outbox.mark_delivered("a", 1.0)
    assert outbox.enqueue(item("a")) is False
    assert outbox.take_due("slack", "", 10, 50) == []


def test_items_come_out_in_order_and_a_retry_holds_back_those_behind_it() -> None:
    outbox = SqliteOutbox(":memory:")
    for key in "abc":
        outbox.enqueue(item(key))
    outbox.schedule_retry("a", 100.0, "HTTP 503")
    assert outbox.take_due("slack", "", 50, 50) == []
    assert outbox.lanes("slack") == {"": 100.0}
    [first, *_] = outbox.take_due("slack", "", 100, 50)
    assert first.key == "a"
    assert first.attempts == 1
    assert keys(outbox.take_due("slack", "", 100, 50)) == ["a", "b", "c"]


def test_a_failed_item_is_kept_for_the_record_and_no_longer_due() -> None:
    outbox = SqliteOutbox(":memory:")
    outbox.enqueue(item("a"))
    outbox.enqueue(item("b"))
    outbox.mark_failed("a", 1.0, "channel_not_found")
    assert keys(outbox.take_due("slack", "", 10, 50)) == ["b"]
    assert outbox.failed("slack") == 1
    assert outbox.depth("slack") == 1


def test_sinks_have_queues_of_their_own() -> None:
    outbox = SqliteOutbox(":memory:")
    outbox.enqueue(item("a", sink="slack"))
    outbox.enqueue(item("b", sink="webhook"))
    outbox.schedule_retry("a", 100.0, "429")
    assert keys(outbox.take_due("webhook", "", 10, 50)) == ["b"]


def test_held_findings_come_out_once_their_window_closes() -> None:
    outbox = SqliteOutbox(":memory:")
    assert outbox.hold(held("a", close_at=30)) is True
    assert outbox.hold(held("a", close_at=99)) is False  # the same finding, held again
    outbox.hold(held("b", close_at=60))
    assert outbox.next_close() == 30
    assert [h.finding.rollout for h in outbox.take_closed(40)] == ["a"]
    assert outbox.take_closed(40) == []
    [later] = outbox.take_closed(60)
    assert later.finding == stall("b")
    assert later.view == view("b")
    assert outbox.next_close() is None


def test_a_bucket_knows_its_open_window_and_its_last_flush() -> None:
    outbox = SqliteOutbox(":memory:")
    finding = schema_violation("1")
    bucket = "schema_violation|OrderPlaced"
    outbox.hold(Held(f"{finding.id}:slack", "slack", bucket, "#c", True, finding, None, 0, 30))
    assert outbox.bucket_times("slack", bucket) == (30, None)
    outbox.take_closed(31)
    assert outbox.bucket_times("slack", bucket) == (None, 31)


def test_threads_and_alerts_survive_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first = SqliteOutbox(path)
    first.enqueue(item("a"))
    first.hold(held("b", close_at=30))
    thread = Thread(
        "C1",
        "123.456",
        shared=True,
        opened_at=T0,
        history=("line",),
        firing=({"labels": {"alertname": "X"}},),
    )
    first.save_thread("slack", "user-service-v2/42", thread)
    first.close()

    second = SqliteOutbox(path)
    assert keys(second.take_due("slack", "", 10, 50)) == ["a"]
    assert second.depth("slack") == 2
    assert second.thread("slack", "user-service-v2/42") == thread
    assert second.firing("slack") == [thread]
    assert second.thread("slack", "user-service-v2/other") is None


def test_writes_join_a_transaction_the_store_has_open_and_go_with_its_rollback(
    tmp_path: Path,
) -> None:
    conn = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    outbox = SqliteOutbox(conn)
    conn.execute("BEGIN IMMEDIATE")
    outbox.enqueue(item("a"))
    with outbox.transaction():
        outbox.enqueue(item("b"))
    assert conn.in_transaction  # the outbox did not commit the store's batch
    conn.execute("ROLLBACK")
    assert outbox.depth("slack") == 0

    conn.execute("BEGIN IMMEDIATE")
    outbox.enqueue(item("c"))
    conn.execute("COMMIT")
    assert SqliteOutbox(tmp_path / "state.db").depth("slack") == 1  # seen by another connection


def test_a_failing_write_leaves_nothing_half_done() -> None:
    outbox = SqliteOutbox(":memory:")
    with pytest.raises(RuntimeError), outbox.transaction():
        outbox.enqueue(item("a"))
        raise RuntimeError("planner bug")
    assert outbox.depth("slack") == 0


def test_pruning_forgets_old_deliveries_and_resolved_threads_only() -> None:
    outbox = SqliteOutbox(":memory:")
    outbox.enqueue(item("old"))
    outbox.mark_delivered("old", 10.0)
    outbox.enqueue(item("pending"))
    outbox.save_thread("slack", "done", Thread("C1", "1", opened_at=0, resolved_at=10.0))
    outbox.save_thread("slack", "open", Thread("C1", "2", opened_at=0))
    outbox.prune(before=20.0)
    assert outbox.enqueue(item("old")) is True  # forgotten, so it could be sent again
    assert keys(outbox.take_due("slack", "", 30, 50)) == ["pending", "old"]
    assert outbox.thread("slack", "done") is None
    assert outbox.thread("slack", "open") is not None


def test_a_file_that_is_not_sqlite_is_refused_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_text("not a database, just text that is long enough to have a header" * 20)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        SqliteOutbox(path)


def test_a_lane_goes_by_priority_then_order_and_waits_only_for_itself() -> None:
    outbox = SqliteOutbox(":memory:")
    outbox.enqueue(laned("noise-1", "#a", NOISE_PRIORITY))
    outbox.enqueue(laned("noise-2", "#a", NOISE_PRIORITY))
    outbox.enqueue(laned("stall", "#a"))
    outbox.enqueue(laned("recovered", "#a"))
    outbox.enqueue(laned("other", "#b"))
    assert keys(outbox.take_due("slack", "#a", 10, 50)) == [
        "stall",
        "recovered",
        "noise-1",
        "noise-2",
    ]
    outbox.schedule_retry("stall", 100.0, "Slack rate limit (429)")
    assert outbox.take_due("slack", "#a", 10, 50) == []  # the lane waits for its first
    assert keys(outbox.take_due("slack", "#b", 10, 50)) == ["other"]  # the other does not
    assert outbox.lanes("slack") == {"#a": 100.0, "#b": 0.0}
    outbox.mark_delivered("other", 11.0)
    assert outbox.lanes("slack") == {"#a": 100.0}


def test_a_digest_window_keeps_a_bounded_sample_and_counts_the_rest() -> None:
    outbox = SqliteOutbox(":memory:")
    unknown = [Finding(Kind.UNREGISTERED_EVENT, T0 + n, event_type=f"T{n}") for n in range(1000)]
    violations = [schema_violation(str(n)) for n in range(3)]
    for finding in [*unknown, *violations]:
        assert outbox.hold_sampled(digest_held(finding, close_at=30), sample=5) is True
    assert outbox.hold_sampled(digest_held(unknown[0], close_at=30), sample=5) is False
    assert outbox.depth("slack") == 1003  # every finding counts
    rows = outbox.take_closed(30)
    assert len(rows) == 5 + 1 + 3  # but only the sample and one tally are kept
    assert sum(row.count for row in rows if row.finding.kind == Kind.UNREGISTERED_EVENT) == 1000
    [tally] = [row for row in rows if row.count > 1]
    assert (tally.count, tally.finding) == (995, unknown[-1])  # the latest stands for the rest

    # The next window: once it is flushed, only its own rows are needed (for its flush time).
    outbox.hold_sampled(digest_held(Finding(Kind.MALFORMED, T0, reason="x"), close_at=99), 5)
    assert outbox.bucket_times("slack", DIGEST) == (99, 30)
    [next_window] = outbox.take_closed(99)
    outbox.forget_flushed("slack", DIGEST, before=99)
    assert next_window.count == 1
    assert outbox.bucket_times("slack", DIGEST) == (None, 99)
    assert outbox.hold_sampled(digest_held(unknown[0], close_at=200), sample=5) is True


def test_an_outbox_without_lanes_gets_them_and_keeps_each_channels_order(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in VERSION_1:
        conn.execute(statement)
    rows = [
        ("parent-a", {"purpose": "parent", "channel": "#a", "threads": ["e/1"]}),
        ("digest-b", {"purpose": "message", "channel": "#b"}),
        ("reply-a", {"purpose": "reply", "thread": "e/1", "channel": "#a"}),
        ("update-posted", {"purpose": "update", "thread": "e/2"}),
        ("hook", {"body": {"kind": "stall"}}),
    ]
    for key, payload in rows:
        sink = "webhook" if key == "hook" else "slack"
        conn.execute(
            "INSERT INTO alert_items (key, sink, payload, enqueued_at, next_at) "
            "VALUES (?, ?, ?, 0, 0)",
            (key, sink, json.dumps(payload)),
        )
    thread = "INSERT INTO alert_threads VALUES ('slack', ?, ?, ?, 0, 0, 0, NULL, '[]', '[]')"
    conn.execute(thread, ("e/1", "#a", None))  # its parent is still waiting
    conn.execute(thread, ("e/2", "C0A", "1.0"))  # posted: Slack's id
    conn.close()

    outbox = SqliteOutbox(path)
    assert outbox.lanes("slack") == {"#a": 0.0, "#b": 0.0, "C0A": 0.0}
    assert keys(outbox.take_due("slack", "#a", 10, 50)) == ["parent-a", "reply-a"]
    assert keys(outbox.take_due("slack", "C0A", 10, 50)) == ["update-posted"]
    assert keys(outbox.take_due("webhook", "", 10, 50)) == ["hook"]
    known = outbox.thread("slack", "e/1")
    assert known is not None
    assert known.delivery_lane == "#a"
    outbox.close()
    assert SqliteOutbox(path).lanes("slack") == {"#a": 0.0, "#b": 0.0, "C0A": 0.0}  # once


def test_an_outbox_of_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SqliteOutbox(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE alert_outbox_version SET version = 99")
    conn.close()
    with pytest.raises(StoreError, match="version 99"):
        SqliteOutbox(path)


DIGEST = "digest|#rollouts"
# The outbox's tables before lanes (version 1, without a version table).
VERSION_1 = (
    """CREATE TABLE alert_held (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,
        sink TEXT NOT NULL, bucket TEXT NOT NULL, destination TEXT NOT NULL,
        opens INTEGER NOT NULL, finding TEXT NOT NULL, view TEXT, held_at REAL NOT NULL,
        close_at REAL NOT NULL, flushed_at REAL)""",
    """CREATE TABLE alert_items (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,
        sink TEXT NOT NULL, payload TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
        enqueued_at REAL NOT NULL, next_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT, done_at REAL)""",
    "CREATE INDEX alert_items_due ON alert_items (sink, seq) WHERE state = 'pending'",
    """CREATE TABLE alert_threads (sink TEXT NOT NULL, key TEXT NOT NULL, channel TEXT NOT NULL,
        ts TEXT, shared INTEGER NOT NULL, failed INTEGER NOT NULL, opened_at REAL NOT NULL,
        resolved_at REAL, firing TEXT NOT NULL, history TEXT NOT NULL, PRIMARY KEY (sink, key))""",
)


def laned(key: str, lane: str, priority: int = ROLLOUT_PRIORITY) -> Item:
    return Item(key, "slack", {"text": key}, 0.0, lane=lane, priority=priority)


def digest_held(finding: Finding, close_at: float) -> Held:
    key = f"{finding.id}:slack"
    return Held(key, "slack", DIGEST, "#rollouts", True, finding, None, close_at - 1, close_at)
