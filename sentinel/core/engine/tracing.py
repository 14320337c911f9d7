"""A rollout as one OpenTelemetry trace (contract section 13): the ids that every replica, every
restart and `replay` compute alike from the rollout itself, and the W3C trace context of events.

Nothing here is random: with `J(x, ...)` the UTF-8 of the compact JSON array
`["sentinel/1", x, ...]`, a rollout's trace id is the first 16 bytes of SHA-256 of
J(expectation, key, opened_at as the API writes it), its root span the first 8 of
J(trace id, "root"), a step's span the first 8 of J(trace id, "step", step), and a finding's
span the first 8 of J("finding", its id). Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

import orjson

from sentinel.core.events.envelope import Envelope
from sentinel.core.timefmt import format_rfc3339

# The W3C rule, as OpenTelemetry's propagators apply it (leading and trailing blanks allowed).
_TRACEPARENT: Final = re.compile(
    r"[ \t]*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?[ \t]*"
)
_ZERO_TRACE: Final = "0" * 32
_ZERO_SPAN: Final = "0" * 16
# Contexts named on one finding at most (a closing finding lists every seen step's).
MOST_EVENT_TRACES: Final = 20


def parse_traceparent(text: object) -> str | None:
    """`text` as a valid W3C traceparent (`00-<trace id>-<span id>-<flags>`), or None: not a
    string, version `ff`, extra fields after version 00, all-zero ids, not lowercase hex."""
    if not isinstance(text, str):
        return None
    found = _TRACEPARENT.fullmatch(text)
    if found is None:
        return None
    version, trace_id, span_id, flags, rest = found.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return f"{version}-{trace_id}-{span_id}-{flags}"


def trace_of(traceparent: str) -> str:
    """The trace id of a parsed traceparent."""
    return traceparent[3:35]


def span_of(traceparent: str) -> str:
    """The span id of a parsed traceparent."""
    return traceparent[36:52]


# Trace ids made lately: a rollout's is asked for each of its findings, views and spans.
# Cleared when full: a bound on memory, not a policy.
_TRACES: Final[dict[tuple[str, str, float], str]] = {}
_MOST_TRACES: Final = 4096


def trace_id_of(expectation: str, key: str, opened_at: float) -> str:
    """The rollout's trace id, 32 hex digits."""
    identity = (expectation, key, opened_at)
    trace = _TRACES.get(identity)
    if trace is None:
        trace = _digest(expectation, key, format_rfc3339(opened_at))[:32]
        if len(_TRACES) >= _MOST_TRACES:
            _TRACES.clear()
        _TRACES[identity] = trace
    return trace


def root_span_id(trace_id: str) -> str:
    return _digest(trace_id, "root")[:16]


def step_span_id(trace_id: str, step: str) -> str:
    return _digest(trace_id, "step", step)[:16]


def finding_span_id(finding_id: str) -> str:
    """A finding's own span id (an all-zero one gets its last byte set to 1: W3C forbids 0)."""
    span = _digest("finding", finding_id)[:16]
    return span if span != _ZERO_SPAN else span[:-1] + "1"


def distinct_traces(contexts: Iterable[tuple[str | None, str | None]]) -> tuple[str, ...]:
    """The distinct trace ids of (creation, last hop) contexts: every creation context's
    first, then the last-hop ones, at most MOST_EVENT_TRACES."""
    pairs = list(contexts)
    found: list[str] = []
    for traceparent in [pair[0] for pair in pairs] + [pair[1] for pair in pairs]:
        if traceparent is not None:
            trace = trace_of(traceparent)
            if trace not in found:
                found.append(trace)
    return tuple(found[:MOST_EVENT_TRACES])


@dataclass(frozen=True)
class TraceOptions:
    """`tracing:` as the engine sees it: whether events' trace context is read, and the
    template of a trace's link (`{trace_id}`, `{span_id}`, `{expectation}`, `{rollout}`,
    `{step}`, `{start_ms}`, `{end_ms}`), if any."""

    context: bool = True
    url: str | None = None


DEFAULT_TRACING: Final = TraceOptions()


def event_contexts(event: Envelope) -> tuple[str | None, str | None]:
    """(creation context, last hop's) of an event, each a valid traceparent or None: the
    CloudEvents Distributed Tracing extension, then the W3C record header; the hop is kept
    only where it differs from the creation context."""
    creation = parse_traceparent(event.attributes.get("traceparent"))
    hop = parse_traceparent(event.hop)
    return creation, (None if hop == creation else hop)


def trace_link(template: str, values: dict[str, object]) -> str:
    """The template filled in (its placeholders were checked when the config was read)."""
    return template.format_map(values)


def link_values(
    trace_id: str,
    span_id: str,
    expectation: str,
    rollout: str,
    step: str | None,
    start: float,
    end: float,
) -> dict[str, object]:
    """The placeholders of `tracing.trace_url` for one span of a rollout's trace; `start` and
    `end` (epoch seconds) bound the trace, not the span, so that a UI that searches a time
    range finds all of it. Names are percent-encoded: they go into a URL, and a rollout key
    may hold `/`, `&` or `#`."""
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "expectation": quote(expectation, safe=""),
        "rollout": quote(rollout, safe=""),
        "step": quote(step or "", safe=""),
        "start_ms": round(start * 1000),
        "end_ms": round(end * 1000),
    }


def _digest(*parts: str) -> str:
    return hashlib.sha256(orjson.dumps(["sentinel/1", *parts])).hexdigest()
