"""Whatever a record holds (header names and values, bytes, JSON escapes, times, sizes), the
pipeline turns it into an event or a `malformed` finding and goes on: hypothesis writes the
records, a good rollout after them must complete, and every finding must be writable."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.events.records import Partition, Record
from sentinel.core.pipeline.pipeline import Pipeline, WallClock
from sentinel.core.rules.expectations import Expectation, Step
from sentinel.store.memory import MemoryStore

T0 = 1_795_600_800.0
P0 = Partition("rollout.events", 0)
CHAIN = Expectation("chain", "data.rollout_id", (Step("A"), Step("B", after=("A",), within=10.0)))

# JSON text with escapes no producer should write: lone surrogates, controls, odd numbers.
ESCAPES = st.sampled_from(
    ["\\ud800", "\\udfff", "\\u0000", "\\u001b[2J", "\\u202e", '\\"', "\\\\", "\\/", "\\b"]
)
JSON_TEXT = st.lists(st.one_of(st.text(max_size=5), ESCAPES), max_size=6).map("".join)
TIMES = st.one_of(
    st.sampled_from(
        ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z", "2026-11-25T10:00:00Z",
         "2026-13-01T00:00:00Z", "1969-12-31T23:59:59Z", "2199-12-31T23:59:59Z", ""]
    ),
    st.text(max_size=30),
)  # fmt: skip
HEADER_NAMES = st.one_of(
    st.sampled_from(["ce_type", "ce_specversion", "ce_id", "ce_time", "content-type",
                     "CE_TYPE", "__value_schema_id", "apicurio.value.globalId"]),
    st.text(max_size=12),
)  # fmt: skip
HEADERS = st.lists(
    st.tuples(HEADER_NAMES, st.one_of(st.none(), st.binary(max_size=20))), max_size=5
)


@st.composite
def values(draw: st.DrawFn) -> bytes | None:
    kind = draw(st.sampled_from(["json", "bytes", "none", "framed"]))
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    if kind == "none":
        return None
    event_type = draw(st.one_of(st.sampled_from(["A", "B", "Other"]), JSON_TEXT))
    key = draw(st.one_of(JSON_TEXT, st.integers(), st.floats(allow_nan=False)))
    text = (
        f'{{"specversion":"1.0","id":"{draw(JSON_TEXT)}","source":"/p","type":"{event_type}",'
        f'"time":"{draw(TIMES)}","data":{{"rollout_id":{json.dumps(key)}}}}}'
    )
    raw = text.encode("utf-8", "surrogatepass")
    return b"\x00\x00\x00\x00\x07" + raw if kind == "framed" else raw


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(values(), HEADERS), min_size=1, max_size=12))
def test_no_record_stops_the_pipeline_and_a_good_rollout_after_them_completes(
    hostile: list[tuple[bytes | None, list[tuple[str, bytes | None]]]],
) -> None:
    pipeline = Pipeline(Engine([CHAIN]), MemoryStore(), BusDecoder())
    records = [
        Record(P0, offset, value, tuple(headers)) for offset, (value, headers) in enumerate(hostile)
    ]
    good = [
        b'{"specversion":"1.0","id":"g-%s","source":"/good","type":"%s",'
        b'"time":"2026-11-25T10:00:0%dZ","data":{"rollout_id":"good"}}' % (kind, kind, n)
        for n, kind in enumerate((b"A", b"B"))
    ]
    start = len(records)
    records += [Record(P0, start + n, value) for n, value in enumerate(good)]
    kept = pipeline.process(records, WallClock(T0 + 5))
    assert kept.offsets == {P0: len(records)}, "every record was read past"
    for finding in kept.findings:
        line = finding.to_json_line()
        line.encode("utf-8")  # writable: no lone surrogate reached a finding
        json.loads(line)
    completed = [f for f in kept.findings if f.kind is Kind.COMPLETED and f.rollout == "good"]
    assert len(completed) == 1
    view = pipeline.engine.view("chain", "good")
    assert view is not None
    assert pipeline.engine.view("chain", "good") is not None


def test_a_finding_line_carries_no_character_a_terminal_acts_on() -> None:
    """JSON leaves DEL, C1 controls (CSI is 0x9b) and bidirectional overrides raw: the line
    escapes them, and reads back as the same value."""
    key = "r1\x9b2J\u202eevil\x7f\x1b[2J\u2028"
    line = Finding(Kind.STALL, T0, expectation="chain", rollout=key, step="B").to_json_line()
    assert not any(0x7F <= ord(c) <= 0x9F or c in "\u202e\u2028\x1b" for c in line)
    assert json.loads(line)["rollout"] == key
