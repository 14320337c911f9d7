"""Every record becomes one Envelope before anything else looks at it (contract section 1).

Three inputs are accepted: a CloudEvent in structured JSON, a CloudEvent in Kafka binary mode
(`ce_*` headers, value = data) and a plain JSON object. Anything else is `Malformed`, with a
reason a producer can act on; an event of a type nothing watches may be `Skipped` without
reading its value (binary mode, here) or building it (structured, `peek`). Purely
computational: no I/O, no clock.
"""

from __future__ import annotations

import json
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from sentinel.core.events.framing import SchemaRef
from sentinel.core.events.records import Header
from sentinel.core.timefmt import format_rfc3339, parse_event_time

MISSING: Final[Any] = object()
_CORE: Final = frozenset({"id", "type", "source", "time", "data"})


# Built once per record. Not frozen: a frozen dataclass costs 2x to build. `init=False` and
# an `__init__` of its own: mypyc compiles that one, not the one `dataclass` generates at
# import time (interpreted, 5x slower to call).
@dataclass(slots=True, init=False)
class Envelope:
    """One event, whatever form it arrived in. `time` is epoch seconds, None when absent."""

    type: str
    id: str | None
    source: str | None
    time: float | None
    data: Any
    attributes: Mapping[str, Any]
    # Where the record was read: `line 12`, `rollout.events/3@1042`.
    origin: str | None
    # The whole JSON value as the producer wrote it, when that is more than `data` (a
    # structured CloudEvent): what a registry's writer schema describes.
    written: Any
    # The writer schema the record named (a registry's framing), if any.
    schema_ref: SchemaRef | None
    # The W3C `traceparent` record header (the last hop's trace context, as OpenTelemetry's
    # Kafka instrumentations write it), as it came; checked where it is used.
    hop: str | None

    def __init__(
        self,
        type: str,
        id: str | None,
        source: str | None,
        time: float | None,
        data: Any,
        attributes: Mapping[str, Any] | None = None,
        origin: str | None = None,
        written: Any = None,
        schema_ref: SchemaRef | None = None,
        hop: str | None = None,
    ) -> None:
        self.type = type
        self.id = id
        self.source = source
        self.time = time
        self.data = data
        self.attributes = {} if attributes is None else attributes
        self.origin = origin
        self.written = written
        self.schema_ref = schema_ref
        self.hop = hop

    @property
    def as_written(self) -> Any:
        """The value the producer serialized: the whole event, or its data."""
        return self.data if self.written is None else self.written

    def lookup(self, path: Sequence[str]) -> Any:
        """The value at a dotted path (`data.rollout_id`, `subject`), or MISSING."""
        head = path[0]
        if head == "data":
            value = self.data
        elif head == "time":
            value = None if self.time is None else format_rfc3339(self.time)
        elif head in _CORE:
            value = getattr(self, head)
        else:
            value = self.attributes.get(head)
        for part in path[1:]:
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return MISSING
        return MISSING if value is None else value


@dataclass(frozen=True, slots=True)
class Malformed:
    """A record that cannot be an event; `reason` says why, for the producer's owner."""

    reason: str
    origin: str | None = None


@dataclass(slots=True, init=False)  # built per record of a shared bus: as Envelope
class Skipped:
    """An event of a type that nothing watches, passed over with its value never decoded:
    only counted (contract section 1). `time` still moves the event clock."""

    type: str
    time: float | None

    def __init__(self, type: str, time: float | None) -> None:
        self.type = type
        self.time = time


def correlation_key(value: Any) -> str | None:
    """A rollout key as a string, or None when the value cannot be one (absent, object, list)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return None


def from_json(raw: bytes | str, origin: str | None = None) -> Envelope | Malformed:
    """A structured CloudEvent (has `specversion`) or a plain JSON object."""
    decoded = _decode(raw)
    if isinstance(decoded, Malformed):
        return Malformed(decoded.reason, origin)
    if not isinstance(decoded, dict):
        return Malformed(f"not a JSON object but {_json_kind(decoded)}", origin)
    if "specversion" in decoded:
        return _from_structured(decoded, origin)
    return _build(
        decoded.get("type"), decoded.get("id"), decoded.get("source"), decoded.get("time"),
        decoded, {}, origin,
    )  # fmt: skip


def from_kafka(
    value: bytes | None, headers: Sequence[Header], origin: str | None = None
) -> Envelope | Malformed:
    """A Kafka record: binary mode when `ce_specversion` is a header and the content type is
    not `application/cloudevents*`; otherwise the value is read as JSON (structured or plain)."""
    names = {name.lower(): payload for name, payload in headers}
    content_type = _header_text(names.get("content-type"))
    if not _binary(names, content_type):
        item = from_json(b"" if value is None else value, origin)
        if isinstance(item, Envelope) and "traceparent" in names:
            item.hop = _header_text(names["traceparent"])  # the last one given
        return item
    attributes: dict[str, Any] = {}
    for name, payload in names.items():
        if not name.startswith("ce_"):
            continue
        text = _header_text(payload)
        if text is None:
            return Malformed(f"header {name} is not UTF-8 text", origin)
        attributes[name[3:]] = text
    if content_type is not None:
        attributes["datacontenttype"] = content_type
    if value is None or value == b"":
        data: Any = None
    else:
        data = _decode(value)
        if isinstance(data, Malformed):
            return Malformed(f"binary-mode value: {data.reason}", origin)
    built = _build(
        attributes.pop("type", None), attributes.pop("id", None),
        attributes.pop("source", None), attributes.pop("time", None), data, attributes, origin,
    )  # fmt: skip
    if isinstance(built, Envelope) and "traceparent" in names:
        built.hop = _header_text(names["traceparent"])
    return built


def binary_mode(headers: Sequence[Header]) -> bool:
    """Whether `from_kafka` reads a record with these headers in binary mode."""
    names = {name.lower(): payload for name, payload in headers}
    return _binary(names, _header_text(names.get("content-type")))


def _binary(names: Mapping[str, bytes | None], content_type: str | None) -> bool:
    """Binary mode: `ce_specversion` is a header (`names`: lower case, the last of each) and
    the content type (its text) is not `application/cloudevents*`."""
    structured = content_type is not None and content_type.lower().startswith(
        "application/cloudevents"
    )
    return "ce_specversion" in names and not structured


def skipped(event_type: str, time: str | None) -> Skipped | None:
    """A record of `event_type` passed over at `time` (RFC 3339, or None: untimed); None when
    the time is not one, so that the full decode says why."""
    if time is None:
        return Skipped(event_type, None)
    try:
        return Skipped(event_type, parse_event_time(time))
    except ValueError:
        return None


def skim(value: bytes | None, headers: Sequence[Header], skip: Container[str]) -> Skipped | None:
    """A binary-mode event whose type is in `skip`, read from its headers alone; None when the
    record must be decoded in full: another mode or type, or anything `from_kafka` would
    call malformed (the full decode then says why)."""
    for name, payload in headers:
        # Producers write the names in lower case (the binding says so): a record that spells
        # them otherwise is decoded in full, never skipped.
        if name == "ce_type":
            if _header_text(payload) not in skip:
                return None  # the common case on a bus where rollouts are being watched
            break
    else:
        return None
    event_type = time = None
    binary = False
    for name, payload in headers:
        lowered = name.lower()
        if not lowered.startswith("ce_"):
            if lowered == "content-type":
                content_type = _header_text(payload)
                if content_type is None or content_type.lower().startswith(
                    "application/cloudevents"
                ):
                    return None
            continue
        text = _header_text(payload)
        if text is None:
            return None
        if lowered == "ce_type":
            event_type = text
        elif lowered == "ce_time":
            time = text
        elif lowered == "ce_specversion":
            binary = True
    if not binary or event_type is None or event_type not in skip:
        return None
    return skipped(event_type, time)


def _from_structured(event: dict[str, Any], origin: str | None) -> Envelope | Malformed:
    attributes = {name: value for name, value in event.items() if name not in _CORE}
    built = _build(
        event.get("type"), event.get("id"), event.get("source"), event.get("time"),
        event.get("data"), attributes, origin,
    )  # fmt: skip
    if isinstance(built, Envelope):
        built.written = event
    return built


def _build(
    event_type: Any,
    event_id: Any,
    source: Any,
    time: Any,
    data: Any,
    attributes: Mapping[str, Any],
    origin: str | None,
) -> Envelope | Malformed:
    # `type(x) is str` first: the common case costs one comparison per field.
    if type(event_type) is not str or not event_type:
        if event_type is None:
            return Malformed("no type", origin)
        return Malformed(f"type must be a non-empty string, not {_json_kind(event_type)}", origin)
    if event_id is not None and type(event_id) is not str:
        if isinstance(event_id, bool) or not isinstance(event_id, int):
            return Malformed(f"id must be a string, not {_json_kind(event_id)}", origin)
        event_id = str(event_id)
    if source is not None and type(source) is not str:
        return Malformed(f"source must be a string, not {_json_kind(source)}", origin)
    moment: float | None = None
    if time is not None:
        if type(time) is not str:
            return Malformed(f"time must be an RFC 3339 string, not {_json_kind(time)}", origin)
        try:
            moment = parse_event_time(time)
        except ValueError as error:
            if "outside" in str(error):
                return Malformed(str(error), origin)
            return Malformed(f"time {time!r} is not RFC 3339 (e.g. 2026-11-25T10:00:00Z)", origin)
    return Envelope(event_type, event_id or None, source, moment, data, attributes, origin)


def _decode(raw: bytes | str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        if "surrogate in string" in str(error):
            return Malformed(_SURROGATE)
    # orjson refuses a few things the JSON grammar allows (nesting deeper than 1024).
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        decoded = json.loads(text)
        # Python's own parser keeps a lone surrogate escape (`"\ud800"`): a string no
        # UTF-8 can hold, which every later step (ids, the state file) would trip on.
        json.dumps(decoded, ensure_ascii=False).encode("utf-8")
    except UnicodeError:
        return Malformed(_SURROGATE if isinstance(raw, str) or _valid_utf8(raw) else _NOT_UTF8)
    except (ValueError, RecursionError) as error:
        return Malformed(f"not valid JSON ({_short(str(error))})")
    return decoded


_NOT_UTF8: Final = "not UTF-8 text"
_SURROGATE: Final = "a \\u escape of a lone UTF-16 surrogate (such as \\ud800): not valid Unicode"


def _valid_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _header_text(payload: bytes | None) -> str | None:
    if payload is None:
        return None
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
