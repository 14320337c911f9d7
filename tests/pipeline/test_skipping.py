"""A shared bus: records of types nothing watches are counted, not decoded, in both modes."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from engine.helpers import MIN, T0, QuietObserver, event, kinds, user_service

from sentinel.core.engine.engine import Engine
from sentinel.core.events.decoders import BusDecoder, LineDecoder
from sentinel.core.events.envelope import Skipped
from sentinel.core.events.records import Partition, Record
from sentinel.core.events.schemas import SchemaRegistry
from sentinel.core.events.structured_skim import SEARCHED_NAMES, skim_structured
from sentinel.core.pipeline.pipeline import EventClock, Pipeline, WallClock
from sentinel.core.timefmt import format_rfc3339
from sentinel.store.memory import MemoryStore

from .helpers import P0, record

NOT_JSON = b"\xff this value is never read"


class Counting(QuietObserver):
    """Counts what the engine says it read, by (type, outcome)."""

    def __init__(self) -> None:
        self.read: dict[tuple[str, str], int] = {}

    def events_read(self, counts: Mapping[tuple[str, str], int]) -> None:
        for key, count in counts.items():
            self.read[key] = self.read.get(key, 0) + count


def binary(
    event_type: str,
    offset: int,
    value: bytes = b'{"order": 1}',
    at: float = T0,
    partition: Partition = P0,
    **headers: bytes,
) -> Record:
    """A binary-mode CloudEvent: its attributes in `ce_*` headers, its data as the value."""
    names = {
        "ce_specversion": b"1.0",
        "ce_id": f"e{offset}".encode(),
        "ce_source": b"/shop",
        "ce_type": event_type.encode(),
        "ce_time": format_rfc3339(at).encode(),
        "content-type": b"application/json",
        **{name.replace("__", "-"): payload for name, payload in headers.items()},
    }
    return Record(partition, offset, value, list(names.items()))


def pipeline(observer: Counting | None = None, schemas: SchemaRegistry | None = None) -> Pipeline:
    engine = Engine([user_service()], schemas, observer)
    return Pipeline(engine, MemoryStore(), BusDecoder())


def test_a_type_nothing_watches_is_reported_once_then_counted_without_reading_its_value() -> None:
    counting = Counting()
    sentinel = pipeline(counting)
    first = sentinel.process([binary("Shop_Ordered", 0)], WallClock(T0)).findings
    assert kinds(first) == ["unregistered_event"]
    # Its value is not JSON: read, it would be malformed; passed over, it says nothing.
    rest = [binary("Shop_Ordered", offset, NOT_JSON) for offset in range(1, 4)]
    assert sentinel.process(rest, WallClock(T0)).findings == []
    assert counting.read == {("Shop_Ordered", "unregistered"): 4}
    assert sentinel.positions == {P0: 4}


def test_a_skipped_record_leaves_nothing_to_keep_but_its_offset() -> None:
    sentinel = pipeline()
    sentinel.process([binary("Shop_Ordered", 0)], WallClock(T0))
    sentinel.engine.take_changes()
    sentinel.process([binary("Shop_Ordered", 1)], WallClock(T0))
    assert sentinel.engine.seen_events.keys() == {("/shop", "e0")}


def test_a_type_that_an_expectation_names_is_always_decoded() -> None:
    sentinel = pipeline()
    sentinel.process([binary("Shop_Ordered", 0)], WallClock(T0))
    watched = binary("SchemaV2_Ready", 1, b'{"rollout_id": "r1"}')
    assert sentinel.engine.view("user-service-v2", "r1") is None
    sentinel.process([watched], WallClock(T0))
    assert sentinel.engine.view("user-service-v2", "r1") is not None


def test_a_type_with_a_schema_is_always_checked_against_it() -> None:
    schemas = SchemaRegistry({"Shop_Ordered": _AlwaysInvalid()})
    sentinel = pipeline(schemas=schemas)
    found = []
    for offset in range(3):
        found += sentinel.process([binary("Shop_Ordered", offset)], WallClock(T0)).findings
    assert kinds(found) == ["schema_violation"] * 3


def test_structured_records_of_a_type_nothing_watches_are_counted_without_a_full_decode() -> None:
    counting = Counting()
    sentinel = pipeline(counting)
    first = sentinel.process([record(event("Shop_Ordered", T0), 0)], WallClock(T0)).findings
    assert kinds(first) == ["unregistered_event"]
    # Skimmed, it says nothing: read in full, it would be malformed (an id must be text).
    odd_id = b'{"specversion": "1.0", "id": 1.5, "source": "/shop", "type": "Shop_Ordered"}'
    again = record(event("Shop_Ordered", T0), 2)
    found = sentinel.process([Record(P0, 1, odd_id, []), again], WallClock(T0)).findings
    assert found == []
    assert counting.read == {("Shop_Ordered", "unregistered"): 3}
    assert sentinel.positions == {P0: 3}


def test_structured_invalid_and_framed_records_of_an_unwatched_type_are_still_read() -> None:
    sentinel = pipeline()
    sentinel.process([binary("Shop_Ordered", 0)], WallClock(T0))
    structured = record(event("Shop_Ordered", T0), 1)
    structured.value = b'{"type": "Shop_Ordered", not json'
    framed = binary("Shop_Ordered", 2, b"\x00\x00\x00\x00\x07{}")
    found = sentinel.process([structured, framed], WallClock(T0)).findings
    assert kinds(found) == ["malformed", "malformed"]  # no registry to read the framed one


def test_the_structured_skim_reads_only_the_top_level_type_and_a_valid_time() -> None:
    skip = {"Shop_Ordered"}
    assert skim_structured(b'{"type": "Shop_Ordered"}', skip) == Skipped("Shop_Ordered", None)
    at = format_rfc3339(T0).encode()
    assert skim_structured(b'{"type":"Shop_Ordered","time":"%s"}' % at, skip) == Skipped(
        "Shop_Ordered", T0
    )
    # A nested `type` is data, not the event's type.
    assert skim_structured(b'{"data": {"type": "Shop_Ordered"}, "type": "X"}', skip) is None
    assert skim_structured(b'{"data": {"type": "Shop_Ordered"}}', skip) is None
    # What the full decode refuses, it must see, to say why.
    for refused in (
        b'{"type": "Shop_Ordered", "time": "yesterday"}',
        b'{"type": "Shop_Ordered", "time": 3}',
        b'["Shop_Ordered"]',
        b'{"type": ["Shop_Ordered"]}',
        b'{"type": "Shop_Ordered"',
        b'{"type": "Shop_Ordered"} trailing',
        b'{"type": "Shop_Ordered", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ):
        assert skim_structured(refused, skip) is None, refused


def test_a_value_that_does_not_hold_a_skipped_name_as_written_is_decoded_in_full() -> None:
    escaped = b'{"type": "Shop_\\u004frdered"}'  # the same type, one letter escaped
    assert orjson.loads(escaped)["type"] == "Shop_Ordered"
    assert skim_structured(escaped, {"Shop_Ordered"}) is None
    # Beyond SEARCHED_NAMES types the names are not searched: msgspec reads the escape.
    many = {"Shop_Ordered", *(f"Other_{n}" for n in range(SEARCHED_NAMES))}
    assert skim_structured(escaped, many) == Skipped("Shop_Ordered", None)
    # Found by the search, and yet data: the top-level type decides.
    assert skim_structured(b'{"type": "X", "data": "Shop_Ordered"}', {"Shop_Ordered"}) is None


def test_a_line_is_skimmed_as_a_structured_record_unless_it_names_its_writer_schema() -> None:
    """Replay passes over what the live watcher passes over: live equals replay."""
    line = b'{"specversion": "1.0", "type": "Shop_Ordered", "id": 1.5}'
    assert LineDecoder().skim(Record(P0, 0, line), {"Shop_Ordered"}) == Skipped(
        "Shop_Ordered", None
    )
    framed = b'{"specversion": "1.0", "type": "Shop_Ordered", "schemaid": 7}'
    assert LineDecoder().skim(Record(P0, 1, framed), {"Shop_Ordered"}) is None


def test_a_binary_mode_value_is_data_whatever_type_it_names() -> None:
    """The value of a binary-mode record of a watched type names an unwatched type: it is
    the event's data, so the record is read in full."""
    sentinel = pipeline()
    sentinel.process([binary("Shop_Ordered", 0)], WallClock(T0))
    watched = binary("SchemaV2_Ready", 1, b'{"rollout_id": "r1", "type": "Shop_Ordered"}')
    sentinel.process([watched], WallClock(T0))
    assert sentinel.engine.view("user-service-v2", "r1") is not None


def test_headers_a_full_decode_would_refuse_are_not_passed_over() -> None:
    sentinel = pipeline()
    sentinel.process([binary("Shop_Ordered", 0)], WallClock(T0))
    bad_time = binary("Shop_Ordered", 1, ce_time=b"yesterday")
    bad_text = binary("Shop_Ordered", 2, ce_source=b"\xff")
    found = sentinel.process([bad_time, bad_text], WallClock(T0)).findings
    assert kinds(found) == ["malformed", "malformed"]


def test_the_decoder_skims_only_what_it_is_told_to_pass_over() -> None:
    decoder = BusDecoder()
    assert decoder.skim(binary("Shop_Ordered", 0), {"Shop_Ordered"}) == Skipped("Shop_Ordered", T0)
    assert decoder.skim(binary("Shop_Ordered", 0), {"Shop_Paid"}) is None
    assert decoder.skim(binary("Shop_Ordered", 0, content__type=b"application/cloudevents+json"),
                        {"Shop_Ordered"}) is None  # fmt: skip


def test_a_skipped_event_still_moves_the_event_clock() -> None:
    """Replay's clock is the largest event time read, skipped events included: a deadline
    passed by a skipped event fires before a step read after it (contract section 4)."""
    sentinel = pipeline()
    clock = EventClock(lambda: T0)
    sentinel.process([binary("Shop_Ordered", 0)], clock)
    opened = binary("SchemaV2_Ready", 1, b'{"rollout_id": "r1"}')
    passing = binary("Shop_Ordered", 2, at=T0 + 11 * MIN)  # the step was due at T0 + 10 min
    step = binary("UserServiceV2_Running", 3, b'{"rollout_id": "r1"}', at=T0 + 5 * MIN)
    found = sentinel.process([opened, passing, step], clock).findings
    late = [(f.kind, f.step) for f in found if f.step == "UserServiceV2_Running"]
    assert late == [("stall", "UserServiceV2_Running"), ("recovered", "UserServiceV2_Running")]


def test_a_reload_passes_over_only_what_is_still_neither_named_nor_described() -> None:
    sentinel = pipeline()
    sentinel.process([binary("Shop_Ordered", 0), binary("Shop_Paid", 1)], WallClock(T0))
    assert sentinel.engine.checks.skippable == {"Shop_Ordered", "Shop_Paid"}
    described = SchemaRegistry({"Shop_Ordered": _AlwaysInvalid()})
    sentinel.engine.reload([user_service()], described)
    assert sentinel.engine.checks.skippable == {"Shop_Paid"}


def test_a_restart_passes_over_what_was_passed_over_before_it() -> None:
    """A skimmed event is not remembered as seen, a decoded one is: were the first record of a
    known type decoded after a restart, a later event with its id would be a duplicate only
    in the run that restarted."""
    store = MemoryStore()
    before = Pipeline(Engine([user_service()]), store, BusDecoder())
    before.process([binary("Shop_Ordered", 0)], WallClock(T0))
    after = Pipeline(Engine([user_service()]), store, BusDecoder())
    after.restore()
    assert after.engine.checks.skippable == {"Shop_Ordered"}
    found = after.process([binary("Shop_Ordered", 1, NOT_JSON)], WallClock(T0)).findings
    assert found == []  # skimmed: decoded, it would be malformed


class _AlwaysInvalid:
    """A compiled validator's surface, refusing everything."""

    def is_valid(self, data: object) -> bool:
        return False

    def iter_errors(self, data: object) -> list[object]:
        return [_Error()]


class _Error:
    instance_path: tuple[str, ...] = ()
    message = "refused"
