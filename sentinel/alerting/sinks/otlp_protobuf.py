"""Spans as OTLP/HTTP's protobuf body (`ExportTraceServiceRequest`, from the opentelemetry-proto
messages, never encoded by hand) with the sentinel's resource, and the collector's answer
read back: the wire format of the `otlp` sink in one place, without I/O."""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, SpanFlags, Status
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from sentinel import __version__
from sentinel.core.engine.spans import INTERNAL, SERVER, Attributes, Span

SERVICE_NAME = "rollout-sentinel"
# The variable the Helm chart sets to the pod's name; elsewhere the host's name stands in.
INSTANCE_VARIABLE = "SENTINEL_POD_NAME"
_KINDS = {SERVER: ProtoSpan.SPAN_KIND_SERVER, INTERNAL: ProtoSpan.SPAN_KIND_INTERNAL}
_SAMPLED = 0x01
# Our own spans' parents are local (in the same trace, made here); links point elsewhere.
_LOCAL = SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_REMOTE = _LOCAL | SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK


def resource_of(configured: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """What the sentinel says it is: `service.name` (default rollout-sentinel),
    `service.version`, `service.instance.id` (the pod's name, else the host's), then
    `tracing.resource`, which may set any of them."""
    instance = environ.get(INSTANCE_VARIABLE) or socket.gethostname()
    return {
        "service.name": SERVICE_NAME,
        "service.version": __version__,
        "service.instance.id": instance,
        **configured,
    }


def encode(spans: Sequence[Span], resource: Mapping[str, str]) -> bytes:
    """One request: the spans under one resource and the sentinel's instrumentation scope."""
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=_attributes(tuple(resource.items()))),
                scope_spans=[
                    ScopeSpans(
                        scope=InstrumentationScope(name=SERVICE_NAME, version=__version__),
                        spans=[_span(span) for span in spans],
                    )
                ],
            )
        ]
    )
    return request.SerializeToString(deterministic=True)


def rejected(body: bytes) -> tuple[int, str]:
    """(spans the collector refused, its message) from a successful answer's partial success;
    (0, "") when it accepted them all or its answer is not one it can read."""
    try:
        answer = ExportTraceServiceResponse.FromString(body)
    except DecodeError:
        return 0, ""
    partial = answer.partial_success
    return int(partial.rejected_spans), partial.error_message


def _span(span: Span) -> ProtoSpan:
    return ProtoSpan(
        trace_id=bytes.fromhex(span.trace_id),
        span_id=bytes.fromhex(span.span_id),
        parent_span_id=bytes.fromhex(span.parent_id) if span.parent_id else b"",
        flags=_SAMPLED | _LOCAL,
        name=span.name,
        kind=_KINDS[span.kind],
        start_time_unix_nano=nanoseconds(span.start),
        end_time_unix_nano=nanoseconds(span.end),
        attributes=_attributes(span.attributes),
        events=[
            ProtoSpan.Event(
                time_unix_nano=nanoseconds(event.at),
                name=event.name,
                attributes=_attributes(event.attributes),
            )
            for event in span.events
        ],
        links=[
            ProtoSpan.Link(
                trace_id=bytes.fromhex(link.trace_id),
                span_id=bytes.fromhex(link.span_id),
                attributes=_attributes(link.attributes),
                flags=link.flags | _REMOTE,
            )
            for link in span.links
        ],
        status=(
            Status(code=Status.STATUS_CODE_ERROR, message=span.error)
            if span.error is not None
            else Status()
        ),
    )


def nanoseconds(epoch: float) -> int:
    """Epoch seconds as OTLP's nanoseconds, through whole microseconds: a float's nanoseconds
    are noise, and the same time must always give the same number."""
    return round(epoch * 1_000_000) * 1000


def _attributes(pairs: Attributes | tuple[tuple[str, str], ...]) -> list[KeyValue]:
    return [KeyValue(key=key, value=_value(value)) for key, value in pairs]


def _value(value: str | int | float | bool) -> AnyValue:
    if isinstance(value, bool):  # before int: a bool is an int to Python
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=value)
