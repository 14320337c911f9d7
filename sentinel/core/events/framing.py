"""Registry framing: which schema a Kafka record names, and the JSON it carries (contract §10).

Producers that use a schema registry put the schema's id in front of the value or in a
header. `unframe` finds it and hands back the JSON bytes for section 1. Purely computational:
no I/O, and it never raises, because a record is data and one bad record must not stop the
consumer (a poison pill, Apicurio/apicurio-registry#8891).

The layouts, from the serializers' sources:

- Confluent: `0x00` + 4-byte big-endian schema id + JSON. Apicurio 3 writes the same bytes
  with a *contentId* (`Default4ByteIdHandler`); both registries give that number the same
  meaning in the Confluent-compatible API, and the client reads it as a contentId with
  `api: apicurio-v3`.
- Confluent, newer: `0x01` + 16-byte GUID + JSON, or the GUID (or `0x00` + id) in header
  `__value_schema_id` with the JSON as the whole value.
- Apicurio 2 (headers off): `0x00` + 8-byte big-endian globalId + JSON. Told apart from the
  4-byte layout by its first four id bytes being zero: no registry hands out schema id 0,
  and globalIds beyond 2^32 are not seen in practice (Apicurio/apicurio-registry#2547 is what
  guessing the width wrong looks like).
- Apicurio 2 and 3 (headers on): header `apicurio.value.globalId` or
  `apicurio.value.contentId`, an 8-byte big-endian long, with the JSON as the whole value.

A header id wins over a prefix, as both deserializers do; when a header is given twice the
last one counts (Kafka's `lastHeader`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, NamedTuple

from sentinel.core.events.records import Header

CONFLUENT_HEADER: Final = "__value_schema_id"
APICURIO_GLOBAL_ID_HEADER: Final = "apicurio.value.globalId"
APICURIO_CONTENT_ID_HEADER: Final = "apicurio.value.contentId"
_HEADERS: Final = frozenset(
    {CONFLUENT_HEADER, APICURIO_GLOBAL_ID_HEADER, APICURIO_CONTENT_ID_HEADER}
)

_ZERO_ID: Final = b"\x00\x00\x00\x00"
_GUID_SIZE: Final = 16


class IdKind(StrEnum):
    """Which registry number a record names; each is looked up differently."""

    CONFLUENT_ID = "confluent-id"
    CONFLUENT_GUID = "confluent-guid"
    APICURIO_GLOBAL_ID = "apicurio-global-id"
    APICURIO_CONTENT_ID = "apicurio-content-id"


_KIND_TEXT: Final = {
    IdKind.CONFLUENT_ID: "schema id",
    IdKind.CONFLUENT_GUID: "schema GUID",
    IdKind.APICURIO_GLOBAL_ID: "Apicurio globalId",
    IdKind.APICURIO_CONTENT_ID: "Apicurio contentId",
}


# A NamedTuple, not a frozen dataclass: one is made per framed record and looked up in the
# registry cache, and a tuple is built, hashed and compared in C.
class SchemaRef(NamedTuple):
    """A schema named by a record: the kind of id and its value (an int, or a GUID's text)."""

    kind: IdKind
    value: int | str

    def __str__(self) -> str:
        return f"{_KIND_TEXT[self.kind]} {self.value}"


# Built once per record: not frozen, and an `__init__` that mypyc compiles
# (sentinel.core.events.records).
@dataclass(slots=True, init=False)
class Unframed:
    """What a record value holds.

    `payload` is the JSON to decode (the whole value when nothing frames it; None for a
    tombstone or when `reason` is set). `ref` names the writer schema when the record is
    framed. `reason` is set when the value or a header looks framed but cannot be read: the
    caller reports the record as `malformed` with that reason.
    """

    payload: bytes | None
    ref: SchemaRef | None
    reason: str | None

    def __init__(
        self, payload: bytes | None, ref: SchemaRef | None = None, reason: str | None = None
    ) -> None:
        self.payload = payload
        self.ref = ref
        self.reason = reason


def unframe(value: bytes | None, headers: Sequence[Header]) -> Unframed:
    """The schema a record names (headers first, then a value prefix) and its JSON payload."""
    if headers:
        framed = _from_headers(value, headers)
        if framed is not None:
            return framed
    # One byte decides for the common case: JSON starts with `{`, whitespace or the like.
    if not value or value[0] > 1:
        return Unframed(value)
    return _from_prefix(value)


def framed_by_header(headers: Sequence[Header]) -> bool:
    """Whether a header names a writer schema (the value itself may still be prefixed)."""
    for name, _ in headers:  # noqa: SIM110 - a loop: any() of a generator costs 3x, per record
        if name in _HEADERS:
            return True
    return False


def _from_headers(value: bytes | None, headers: Sequence[Header]) -> Unframed | None:
    found: dict[str, bytes | None] = {}
    for name, raw in headers:
        if name in _HEADERS:
            found[name] = raw
    if not found:
        return None
    if CONFLUENT_HEADER in found:
        return _confluent_header(value, found[CONFLUENT_HEADER])
    if APICURIO_GLOBAL_ID_HEADER in found:
        name, kind = APICURIO_GLOBAL_ID_HEADER, IdKind.APICURIO_GLOBAL_ID
    else:
        name, kind = APICURIO_CONTENT_ID_HEADER, IdKind.APICURIO_CONTENT_ID
    raw = found[name]
    if not isinstance(raw, bytes | bytearray) or len(raw) != 8:
        return Unframed(None, reason=f"header {name} must be an 8-byte id, not {_size(raw)}")
    number = int.from_bytes(raw, "big", signed=True)
    if number <= 0:
        return Unframed(None, reason=f"header {name} holds {number}, not a registry id")
    return Unframed(value, SchemaRef(kind, number))


def _confluent_header(value: bytes | None, raw: bytes | None) -> Unframed:
    if isinstance(raw, bytes | bytearray):
        if len(raw) == 1 + _GUID_SIZE and raw[0] == 1:
            guid = str(uuid.UUID(bytes=bytes(raw[1:])))
            return Unframed(value, SchemaRef(IdKind.CONFLUENT_GUID, guid))
        if len(raw) == 5 and raw[0] == 0:
            return Unframed(value, SchemaRef(IdKind.CONFLUENT_ID, int.from_bytes(raw[1:], "big")))
    return Unframed(
        None,
        reason=f"header {CONFLUENT_HEADER} must be 0x01 + a 16-byte GUID or 0x00 + a 4-byte "
        f"schema id, not {_size(raw)}",
    )


def _from_prefix(value: bytes) -> Unframed:
    if value[0] == 1:
        if len(value) < 1 + _GUID_SIZE:
            return Unframed(
                None,
                reason=f"value starts with 0x01 (a schema GUID follows) but is only "
                f"{len(value)} bytes long",
            )
        guid = str(uuid.UUID(bytes=value[1 : 1 + _GUID_SIZE]))
        return Unframed(value[1 + _GUID_SIZE :], SchemaRef(IdKind.CONFLUENT_GUID, guid))
    if len(value) < 5:
        return Unframed(
            None,
            reason=f"value starts with 0x00 (a schema id follows) but is only "
            f"{len(value)} bytes long",
        )
    if len(value) >= 9 and value[1:5] == _ZERO_ID:
        global_id = int.from_bytes(value[1:9], "big")
        return Unframed(value[9:], SchemaRef(IdKind.APICURIO_GLOBAL_ID, global_id))
    return Unframed(value[5:], SchemaRef(IdKind.CONFLUENT_ID, int.from_bytes(value[1:5], "big")))


def _size(raw: object) -> str:
    if isinstance(raw, bytes | bytearray):
        return f"{len(raw)} bytes"
    return f"a {type(raw).__name__}"
