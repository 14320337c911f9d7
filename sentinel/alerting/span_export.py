"""Spans into the alert outbox as deliveries of sink `otlp`, inside the batch's transaction, and
their sender. The outbox and the delivery worker are the alerts' own (retries, Retry-After,
held while a batch is not yet flushed), so a span kept with its state is never lost to a crash
or a collector outage; works with or without an `alerting:` section."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sentinel.alerting.delivery import SinkWorker, Transport, wait_any
from sentinel.alerting.observer import AlertObserver, NullAlertObserver
from sentinel.alerting.sinks.otlp import OtlpTransport
from sentinel.alerting.sinks.otlp_settings import OtlpSettings
from sentinel.core.engine.spans import Span, span_to_json
from sentinel.core.ports.outbox import Item, Outbox

log = logging.getLogger("sentinel.alerting")
# Spans per delivery (one POST): a batch of 500 events makes about as many; a collector takes
# far more per request, but one refused request then drops fewer.
SPANS_PER_ITEM = 512
# Spans sent are forgotten after this: nothing enqueues a span twice but a batch read again
# after a crash, which happens within seconds.
MEMORY = 3600.0
PRUNE_EVERY = 60.0


class SpanExport:
    """The pipeline's `Spans` port: enqueue (quick, no network); `run_sender` delivers."""

    def __init__(
        self,
        settings: OtlpSettings,
        outbox: Outbox,
        resource: Mapping[str, str],
        observer: AlertObserver | None = None,
        *,
        clock: Callable[[], float] = time.time,
        retry_initial: float = 1.0,
        retry_max: float = 300.0,
        transport: Callable[[OtlpSettings, Mapping[str, str]], Transport] = OtlpTransport,
    ) -> None:
        """`outbox` shares the state store's connection: `export`, called inside the store's
        batch, joins its transaction."""
        self.name = settings.name
        self._settings = settings
        self._outbox = outbox
        self._resource = dict(resource)
        self._observer: AlertObserver = observer or NullAlertObserver()
        self._clock = clock
        self._retry = (retry_initial, retry_max)
        self._transport = transport
        self._released = asyncio.Event()
        self._released.set()
        self._worker: SinkWorker | None = None

    def export(self, spans: Sequence[Span]) -> None:
        """The batch's spans, a delivery per SPANS_PER_ITEM. A delivery's key is a digest of
        its span ids: a batch read again after a crash enqueues nothing twice."""
        if not spans:
            return
        now = self._clock()
        with self._outbox.transaction():
            for start in range(0, len(spans), SPANS_PER_ITEM):
                chunk = spans[start : start + SPANS_PER_ITEM]
                self._outbox.enqueue(
                    Item(
                        key=f"{_digest(chunk)}:{self.name}:spans",
                        sink=self.name,
                        payload={"spans": [span_to_json(span) for span in chunk]},
                        enqueued_at=now,
                        next_at=now,
                    )
                )
        if self._worker is not None:
            self._worker.kick.set()

    def hold(self) -> None:
        """Take no new delivery until `release` (see `Alerter.hold`: the watcher holds both
        while a batch's changelog records are on their way)."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    async def run_sender(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set, and forget what was sent long enough ago."""
        transport = self._transport(self._settings, self._resource)
        self._worker = SinkWorker(
            transport, self._outbox, self._observer, self._clock, *self._retry, self._released
        )
        self._observer.outbox_depth(self.name, self._outbox.depth(self.name))
        log.info("spans go to %s", getattr(transport, "url", self.name))
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._worker.run(stop))
                tasks.create_task(self._forget(stop))
        finally:
            await transport.aclose()

    def status(self) -> dict[str, Any]:
        """/readyz: as each alert sink says it (ok, error, retrying, pending, failed)."""
        if self._worker is not None:
            entry = self._worker.status()
        else:
            entry = {"ok": True, "error": None, "since": None, "retrying": False}
            entry |= {"last_error": None, "retry_at": None}
        entry["pending"] = self._outbox.depth(self.name)
        entry["failed"] = self._outbox.failed(self.name)
        return {self.name: entry}

    async def _forget(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._outbox.forget_done(self.name, self._clock() - MEMORY)
            await wait_any(stop, None, PRUNE_EVERY)


def _digest(spans: Sequence[Span]) -> str:
    joined = "+".join(f"{span.trace_id}-{span.span_id}" for span in spans)
    return hashlib.sha256(joined.encode()).hexdigest()[:24]
