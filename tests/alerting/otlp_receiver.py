"""A small OTLP/HTTP receiver for the tests: it takes `POST /v1/traces` as a collector does
(protobuf, gzip or not), decodes each request with opentelemetry-proto and keeps the spans in
plain form; it can be scripted to fail like FakeServer."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from .fakes import FakeServer, Request


@dataclass(frozen=True)
class Received:
    """One span as the collector got it: ids in hex, times in nanoseconds, values plain."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    flags: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status: tuple[int, str]
    events: list[tuple[str, int, dict[str, Any]]]
    links: list[tuple[str, str, int, dict[str, Any]]]
    resource: dict[str, Any]
    scope: tuple[str, str]

    @property
    def key(self) -> tuple[str, str]:
        return self.trace_id, self.span_id


class OtlpReceiver(FakeServer):
    """Answers `POST /v1/traces` with an empty ExportTraceServiceResponse (all accepted)."""

    def __init__(self, path: str = "/v1/traces") -> None:
        super().__init__()
        self.path = path
        self.spans: list[Received] = []

    async def answer(self, path: str, request: Request) -> web.StreamResponse:
        if path != self.path:
            return web.Response(status=404, text="not found")
        if request.headers.get("Content-Type") != "application/x-protobuf":
            return web.Response(status=415, text="protobuf only")
        body = request.raw
        if body[:2] == b"\x1f\x8b":  # aiohttp inflates a gzip body itself: in case it did not
            body = gzip.decompress(body)
        self.spans += decode(body)
        answer = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=answer, content_type="application/x-protobuf")

    def by_key(self) -> dict[tuple[str, str], Received]:
        return {span.key: span for span in self.spans}

    def named(self, name: str) -> list[Received]:
        return [span for span in self.spans if span.name == name]


def decode(body: bytes) -> list[Received]:
    request = ExportTraceServiceRequest.FromString(body)
    found = []
    for resource_spans in request.resource_spans:
        resource = values(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = (scope_spans.scope.name, scope_spans.scope.version)
            for span in scope_spans.spans:
                found.append(
                    Received(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=span.kind,
                        flags=span.flags,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes=values(span.attributes),
                        status=(span.status.code, span.status.message),
                        events=[
                            (e.name, e.time_unix_nano, values(e.attributes)) for e in span.events
                        ],
                        links=[_link(link) for link in span.links],
                        resource=resource,
                        scope=scope,
                    )
                )
    return found


def _link(link: Any) -> tuple[str, str, int, dict[str, Any]]:
    return link.trace_id.hex(), link.span_id.hex(), link.flags, values(link.attributes)


def values(pairs: Any) -> dict[str, Any]:
    return {pair.key: value(pair) for pair in pairs}


def value(pair: KeyValue) -> Any:
    any_value: AnyValue = pair.value
    which = any_value.WhichOneof("value")
    return None if which is None else getattr(any_value, which)
