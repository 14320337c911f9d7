"""The `otlp` sink's I/O: a POST of protobuf spans to an OpenTelemetry collector
(`<endpoint>/v1/traces`), its answer sorted as OTLP/HTTP says: retry on a connection error,
429, 502, 503 or 504 (after Retry-After when given), drop anything else refused. The retries
themselves are the delivery worker's, as for every sink."""

from __future__ import annotations

import gzip
import logging
from collections.abc import Mapping

import aiohttp

from sentinel.alerting.delivery import DeliveryError, Rejected, RetryLater, SinkBroken, Transient
from sentinel.alerting.sinks.httpkit import CONNECTION_ERRORS, USER_AGENT, describe, retry_after
from sentinel.alerting.sinks.otlp_protobuf import encode, rejected
from sentinel.alerting.sinks.otlp_settings import OtlpSettings
from sentinel.core.engine.spans import span_from_json
from sentinel.core.ports.outbox import Item, Outbox

log = logging.getLogger("sentinel.alerting")
TRACES_PATH = "/v1/traces"
RETRIED = frozenset({429, 502, 503, 504})


def traces_url(settings: OtlpSettings) -> str:
    """Where spans go: `<endpoint>/v1/traces`, or the endpoint itself when it came from
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (which names the full URL)."""
    return settings.endpoint if settings.full_url else settings.endpoint + TRACES_PATH


class OtlpTransport:
    """OTLP/HTTP protobuf over one aiohttp session, opened on first use inside the running loop."""

    refresh_interval: float | None = None

    def __init__(self, settings: OtlpSettings, resource: Mapping[str, str]) -> None:
        self.name = settings.name
        self.url = traces_url(settings)
        self._resource = dict(resource)
        self._gzip = settings.compression == "gzip"
        self._headers = {
            **settings.headers,
            "Content-Type": "application/x-protobuf",
            **({"Content-Encoding": "gzip"} if self._gzip else {}),
        }
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout)
        self._session: aiohttp.ClientSession | None = None
        self._partial_logged = False

    async def deliver(self, item: Item, outbox: Outbox, now: float) -> None:
        spans = [span_from_json(span) for span in item.payload["spans"]]
        body = encode(spans, self._resource)
        if self._gzip:
            # mtime 0: the same spans make the same bytes, whenever they are sent again.
            body = gzip.compress(body, mtime=0)
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": USER_AGENT}
            )
        try:
            async with self._session.post(
                self.url, data=body, headers=self._headers, allow_redirects=False
            ) as response:
                answer = await response.read()
                status, headers = response.status, response.headers
        except CONNECTION_ERRORS as error:
            raise Transient(describe(error)) from None
        if 200 <= status < 300:
            self._note_partial(answer, len(spans))
            return
        raise answer_error(status, headers, answer)

    async def refresh(self, outbox: Outbox, now: float) -> None:
        """Nothing to refresh: each span is sent once."""

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _note_partial(self, answer: bytes, sent: int) -> None:
        """A collector may accept a request yet refuse some spans in it (OTLP's partial
        success): nothing to retry, but worth a word."""
        refused, message = rejected(answer)
        if refused:
            level = logging.DEBUG if self._partial_logged else logging.WARNING
            self._partial_logged = True
            log.log(level, "otlp: the collector refused %d of %d spans: %s", refused, sent, message)


def answer_error(status: int, headers: Mapping[str, str], answer: bytes) -> DeliveryError:
    """What a refusal means for the spans in the request."""
    said = f"HTTP {status}" + (f" {_readable(answer)}" if answer else "")
    if status in RETRIED:
        if any(name.lower() == "retry-after" for name in headers):
            return RetryLater(said, retry_after(headers))
        return Transient(said)
    if 300 <= status < 400:  # the endpoint is wrong: nothing goes until it is fixed
        location = headers.get("Location", "elsewhere")
        return SinkBroken(f"HTTP {status}: the endpoint redirects to {location}; use that URL")
    return Rejected(said)


def _readable(answer: bytes) -> str:
    """The printable part of an answer (a google.rpc.Status in protobuf, or text), short."""
    text = answer.decode("utf-8", errors="replace")
    return "".join(c for c in text if c.isprintable()).strip()[:100]
