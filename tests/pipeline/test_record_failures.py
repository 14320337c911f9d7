"""One record that makes the sentinel fail (a bug it triggers) is that record's finding: the
batch is kept, the records around it are applied, and the error reaches the log."""

from __future__ import annotations

from collections.abc import Mapping

from engine.helpers import T0, QuietObserver, event, kinds, user_service

from sentinel.core.engine.engine import Engine
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.pipeline.pipeline import Pipeline, WallClock
from sentinel.store.memory import MemoryStore

from .helpers import P0, record


class BrokenOn:
    """A schema check with a bug that one event type triggers."""

    def __init__(self, event_type: str) -> None:
        self.event_type = event_type

    def check(self, event_type: str, data: object) -> list[str] | None:
        if event_type == self.event_type:
            raise KeyError("a bug")
        return []


def test_a_record_the_sentinel_fails_on_is_reported_and_the_rest_is_kept() -> None:
    store = MemoryStore()
    errors: list[tuple[str, Exception]] = []
    engine = Engine([user_service()], BrokenOn("Poison"))
    sentinel = Pipeline(engine, store, BusDecoder())
    sentinel.on_error = lambda what, error: errors.append((what, error))
    batch = [
        record(event("SchemaV2_Ready", T0, "r1"), 0),
        record(event("Poison", T0, "r1"), 1),
        record(event("UserServiceV2_Running", T0 + 1, "r1"), 2),
    ]
    kept = sentinel.process(batch, WallClock(T0 + 2))
    assert kinds(kept.findings) == ["malformed"]
    [failure] = kept.findings
    assert failure.event_source == "rollout.events/0@1"
    assert failure.reason == "the sentinel could not process this record (KeyError: 'a bug')"
    assert kept.offsets == {P0: 3} and store.offsets() == {P0: 3}
    view = engine.view("user-service-v2", "r1")
    assert view is not None and [s.seen_at for s in view.steps][:2] == [T0, T0 + 1]
    assert [(what, type(error)) for what, error in errors] == [
        ("record rollout.events/0@1", KeyError)
    ]


class BrokenObserver:
    def batch_kept(self, *args: object) -> None:
        raise RuntimeError("a rendering bug")


def test_an_observer_that_fails_does_not_undo_a_kept_batch() -> None:
    store = MemoryStore()
    errors: list[str] = []
    sentinel = Pipeline(Engine([user_service()]), store, BusDecoder(), observer=BrokenObserver())
    sentinel.on_error = lambda what, error: errors.append(what)
    kept = sentinel.process([record(event("SchemaV2_Ready", T0, "r1"), 0)], WallClock(T0))
    assert kept.offsets == {P0: 1} and store.offsets() == {P0: 1}
    assert errors == ["a batch's observers"]


class FailsOnce(QuietObserver):
    """An engine observer whose first count fails after taking part of it; the rest it keeps."""

    def __init__(self) -> None:
        self.read: dict[tuple[str, str], int] = {}
        self.failed = False

    def events_read(self, counts: Mapping[tuple[str, str], int]) -> None:
        for key, count in counts.items():
            self.read[key] = self.read.get(key, 0) + count
            if not self.failed:
                self.failed = True
                raise RuntimeError("a metrics bug")


def test_events_an_observer_failed_to_count_are_not_counted_again_in_the_next_batch() -> None:
    observer = FailsOnce()
    engine = Engine([user_service()], observer=observer)
    sentinel = Pipeline(engine, MemoryStore(), BusDecoder())
    errors: list[str] = []
    sentinel.on_error = lambda what, error: errors.append(what)
    sentinel.process([record(event("SchemaV2_Ready", T0, "r1"), 0)], WallClock(T0))
    sentinel.process([record(event("SchemaV2_Ready", T0, "r2"), 1)], WallClock(T0))
    assert errors == ["a batch's observers"]
    assert observer.read == {("SchemaV2_Ready", "unregistered"): 2}
