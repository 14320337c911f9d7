"""Which schema a record names and what JSON it carries, for every framing the registries use."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from sentinel.core.events.framing import (
    APICURIO_CONTENT_ID_HEADER,
    APICURIO_GLOBAL_ID_HEADER,
    CONFLUENT_HEADER,
    IdKind,
    SchemaRef,
    Unframed,
    unframe,
)

EVENT = b'{"type":"Deployed","id":"1"}'
GUID = uuid.UUID("6f1c2a3b-4d5e-4f60-8172-93a4b5c6d7e8")


def test_a_plain_json_value_is_read_as_today() -> None:
    assert unframe(EVENT, []) == Unframed(EVENT)


def test_a_value_with_unrelated_headers_is_read_as_today() -> None:
    assert unframe(EVENT, [("ce_type", b"Deployed"), ("traceparent", b"00-ab")]) == Unframed(EVENT)


def test_a_tombstone_has_no_payload_and_no_schema() -> None:
    assert unframe(None, []) == Unframed(None)


def test_the_confluent_prefix_names_a_schema_id_and_is_stripped() -> None:
    framed = unframe(b"\x00\x00\x00\x01\x2c" + EVENT, [])
    assert framed == Unframed(EVENT, SchemaRef(IdKind.CONFLUENT_ID, 300))


def test_a_guid_prefix_names_a_schema_guid() -> None:
    framed = unframe(b"\x01" + GUID.bytes + EVENT, [])
    assert framed == Unframed(EVENT, SchemaRef(IdKind.CONFLUENT_GUID, str(GUID)))


def test_a_guid_in_the_confluent_header_names_the_schema_and_leaves_the_value_whole() -> None:
    framed = unframe(EVENT, [(CONFLUENT_HEADER, b"\x01" + GUID.bytes)])
    assert framed == Unframed(EVENT, SchemaRef(IdKind.CONFLUENT_GUID, str(GUID)))


def test_an_id_in_the_confluent_header_names_the_schema() -> None:
    framed = unframe(EVENT, [(CONFLUENT_HEADER, b"\x00\x00\x00\x00\x07")])
    assert framed == Unframed(EVENT, SchemaRef(IdKind.CONFLUENT_ID, 7))


def test_a_header_id_wins_over_a_prefix_and_the_value_is_not_stripped() -> None:
    value = b"\x00\x00\x00\x00\x05" + EVENT
    framed = unframe(value, [(CONFLUENT_HEADER, b"\x01" + GUID.bytes)])
    assert framed == Unframed(value, SchemaRef(IdKind.CONFLUENT_GUID, str(GUID)))


def test_the_last_of_two_equal_headers_counts() -> None:
    headers = [
        (APICURIO_GLOBAL_ID_HEADER, (1).to_bytes(8, "big")),
        (APICURIO_GLOBAL_ID_HEADER, (2).to_bytes(8, "big")),
    ]
    assert unframe(EVENT, headers).ref == SchemaRef(IdKind.APICURIO_GLOBAL_ID, 2)


def test_a_global_id_header_wins_over_a_content_id_header() -> None:
    headers = [
        (APICURIO_CONTENT_ID_HEADER, (9).to_bytes(8, "big")),
        (APICURIO_GLOBAL_ID_HEADER, (4).to_bytes(8, "big")),
    ]
    assert unframe(EVENT, headers).ref == SchemaRef(IdKind.APICURIO_GLOBAL_ID, 4)


def test_a_zero_byte_too_short_for_an_id_is_a_reason_not_an_exception() -> None:
    framed = unframe(b"\x00\x00\x01", [])
    assert framed.payload is None and framed.ref is None
    assert framed.reason == "value starts with 0x00 (a schema id follows) but is only 3 bytes long"


def test_a_guid_prefix_too_short_for_a_guid_is_a_reason() -> None:
    framed = unframe(b"\x01\x02\x03", [])
    assert framed.reason is not None and "0x01" in framed.reason and framed.payload is None


def test_a_confluent_header_of_the_wrong_size_is_a_reason_that_names_it() -> None:
    framed = unframe(EVENT, [(CONFLUENT_HEADER, b"\x01\x02")])
    assert framed.reason is not None and CONFLUENT_HEADER in framed.reason
    assert "2 bytes" in framed.reason


def test_an_apicurio_header_that_is_not_eight_bytes_is_a_reason() -> None:
    framed = unframe(EVENT, [(APICURIO_GLOBAL_ID_HEADER, b"\x00\x01")])
    assert framed.reason == f"header {APICURIO_GLOBAL_ID_HEADER} must be an 8-byte id, not 2 bytes"


def test_a_null_header_value_is_a_reason() -> None:
    framed = unframe(EVENT, [(APICURIO_CONTENT_ID_HEADER, None)])  # type: ignore[list-item]
    assert framed.reason is not None and "NoneType" in framed.reason


def test_a_negative_apicurio_id_is_a_reason() -> None:
    framed = unframe(EVENT, [(APICURIO_CONTENT_ID_HEADER, (-1).to_bytes(8, "big", signed=True))])
    assert framed.reason is not None and "-1" in framed.reason


def test_a_framed_value_without_payload_gives_an_empty_payload_for_json_to_refuse() -> None:
    assert unframe(b"\x00\x00\x00\x00\x03", []) == Unframed(b"", SchemaRef(IdKind.CONFLUENT_ID, 3))


headers = st.lists(
    st.tuples(
        st.sampled_from(
            [CONFLUENT_HEADER, APICURIO_GLOBAL_ID_HEADER, APICURIO_CONTENT_ID_HEADER, "ce_type"]
        )
        | st.text(max_size=20),
        st.binary(max_size=24) | st.none(),
    ),
    max_size=4,
)


Headers = list[tuple[str, bytes | None]]


@given(st.binary(max_size=64), headers)
def test_arbitrary_bytes_after_a_zero_byte_never_raise(rest: bytes, found: Headers) -> None:
    framed = unframe(b"\x00" + rest, found)  # type: ignore[arg-type]
    # Either a schema is named, or a reason says why not (and there is nothing to decode).
    assert (framed.ref is None) == (framed.reason is not None)
    if framed.reason is not None:
        assert framed.payload is None


@given(st.binary(max_size=64), headers)
def test_arbitrary_values_and_headers_never_raise(value: bytes, found: Headers) -> None:
    framed = unframe(value, found)  # type: ignore[arg-type]
    if framed.reason is None and framed.ref is None:
        assert framed.payload == value
