"""The SQLite outbox: idempotent, in order, durable across reopening, and able to share a
transaction with the state store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sentinel.errors import StoreError
from sentinel.outbox import Held, Item, Thread
from sentinel.store.outbox import SqliteOutbox

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
    [only] = outbox.take_due("slack", 10, 50)
    assert only.payload == {"text": "a"}


def test_a_delivered_key_is_not_enqueued_again() -> None:
    outbox = SqliteOutbox(":memory:")
    outbox.enqueue(item("a"))
    outbox.mark_delivered("a", 1.0)
    assert outbox.enqueue(item("a")) is False
    assert outbox.take_due("slack", 10, 50) == []


def test_items_come_out_in_order_and_a_retry_holds_back_those_behind_it() -> None:
    outbox = SqliteOutbox(":memory:")
    for key in "abc":
        outbox.enqueue(item(key))
    outbox.schedule_retry("a", 100.0, "HTTP 503")
    assert outbox.take_due("slack", 50, 50) == []
    assert outbox.next_due("slack") == 100.0
    [first, *_] = outbox.take_due("slack", 100, 50)
    assert first.key == "a"
    assert first.attempts == 1
    assert keys(outbox.take_due("slack", 100, 50)) == ["a", "b", "c"]


def test_a_failed_item_is_kept_for_the_record_and_no_longer_due() -> None:
    outbox = SqliteOutbox(":memory:")
    outbox.enqueue(item("a"))
    outbox.enqueue(item("b"))
    outbox.mark_failed("a", 1.0, "channel_not_found")
    assert keys(outbox.take_due("slack", 10, 50)) == ["b"]
    assert outbox.failed("slack") == 1
    assert outbox.depth("slack") == 1


def test_sinks_have_queues_of_their_own() -> None:
    outbox = SqliteOutbox(":memory:")
    outbox.enqueue(item("a", sink="slack"))
    outbox.enqueue(item("b", sink="webhook"))
    outbox.schedule_retry("a", 100.0, "429")
    assert keys(outbox.take_due("webhook", 10, 50)) == ["b"]


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
    assert keys(second.take_due("slack", 10, 50)) == ["a"]
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
    assert keys(outbox.take_due("slack", 30, 50)) == ["pending", "old"]
    assert outbox.thread("slack", "done") is None
    assert outbox.thread("slack", "open") is not None


def test_a_file_that_is_not_sqlite_is_refused_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_text("not a database, just text that is long enough to have a header" * 20)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        SqliteOutbox(path)
