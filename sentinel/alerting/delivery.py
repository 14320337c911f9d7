"""Delivery from the outbox, one worker per sink: in order, honouring Retry-After, backing off
on errors, and stopping a sink (not retrying forever) when its configuration is wrong.

A sink's deliveries go out strictly in order: a failed one holds back those behind it, so a
reply never overtakes its thread's parent and a resolution never overtakes its alert.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Any, Protocol

from sentinel.alerting.observer import AlertObserver
from sentinel.outbox import Item, Outbox
from sentinel.timefmt import format_rfc3339

log = logging.getLogger("sentinel.alerting")
BATCH = 50
# Longest sleep between looks at the outbox when nothing wakes the worker.
IDLE = 1.0
# A Retry-After beyond this is treated as this: an alert an hour late is still worth sending.
MAX_RETRY_AFTER = 3600.0


class DeliveryError(Exception):
    """A delivery attempt that did not succeed; `reason` is short and safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryLater(DeliveryError):
    """The sink asked us to wait (HTTP 429 with Retry-After)."""

    def __init__(self, reason: str, after: float) -> None:
        super().__init__(reason)
        self.after = after


class Transient(DeliveryError):
    """Worth retrying: the sink is down, slow or failing on its side."""


class Rejected(DeliveryError):
    """This alert can never be delivered (e.g. an unknown channel); others still can."""


class SinkBroken(DeliveryError):
    """Nothing can be delivered until the configuration is fixed (e.g. a revoked token)."""


class Transport(Protocol):
    """The I/O of one sink."""

    name: str
    refresh_interval: float | None  # how often `refresh` runs; None: never

    async def deliver(self, item: Item, outbox: Outbox, now: float) -> None:
        """Send one item; raise a DeliveryError subclass when it did not go out."""

    async def refresh(self, outbox: Outbox, now: float) -> None:
        """Periodic upkeep (Alertmanager: re-send firing alerts); raises DeliveryError."""

    async def aclose(self) -> None: ...


class SinkWorker:
    """Delivers one sink's items; its state is what `/readyz` details show."""

    def __init__(
        self,
        transport: Transport,
        outbox: Outbox,
        observer: AlertObserver,
        clock: Callable[[], float],
        retry_initial: float,
        retry_max: float,
        released: asyncio.Event,
    ) -> None:
        """`released`, while cleared, keeps the worker from taking items (see `Alerter.hold`)."""
        self.transport = transport
        self.name = transport.name
        self.kick = asyncio.Event()
        self._released = released
        self._outbox = outbox
        self._observer = observer
        self._clock = clock
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._paused_until = 0.0
        self._failures = 0
        self._last_refresh = clock()  # firing alerts were sent with an end a few intervals ahead
        self._rejections_logged: set[str] = set()
        self.broken: str | None = None
        self.broken_since: float | None = None
        self.last_error: str | None = None
        observer.sink_started(self.name)

    def status(self) -> dict[str, Any]:
        return {
            "ok": self.broken is None,
            "error": self.broken,
            "since": None if self.broken_since is None else format_rfc3339(self.broken_since),
            "retrying": self._failures > 0,
            "last_error": self.last_error,
            "retry_at": (
                format_rfc3339(self._paused_until) if self._paused_until > self._clock() else None
            ),
        }

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.kick.clear()
            if self.broken is not None:
                await wait_any(stop, None, None)
                return
            now = self._clock()
            if self._paused_until > now:
                await wait_any(stop, None, self._paused_until - now)
                continue
            if not self._released.is_set():
                await wait_any(stop, self._released, None)
                continue
            await self._maybe_refresh(now)
            items = self._outbox.take_due(self.name, now, BATCH)
            for item in items:
                if stop.is_set() or not await self._attempt(item):
                    break
            self._update_depth()
            if items and self._paused_until <= self._clock() and self.broken is None:
                continue  # there may be more
            await wait_any(stop, self.kick, self._idle_timeout())

    def _update_depth(self) -> None:
        self._observer.outbox_depth(self.name, self._outbox.depth(self.name))

    async def _attempt(self, item: Item) -> bool:
        """Deliver one item; False when the worker must stop taking items for now."""
        try:
            await self.transport.deliver(item, self._outbox, self._clock())
        except RetryLater as error:
            self._retry(item, error, error.after)
            return False
        except Transient as error:
            delay = min(self._retry_max, self._retry_initial * 2**self._failures)
            self._retry(item, error, delay)
            return False
        except Rejected as error:
            now = self._clock()
            self._outbox.mark_failed(item.key, now, error.reason)
            self._count("dropped_permanent")
            self.last_error = error.reason
            level = logging.DEBUG if error.reason in self._rejections_logged else logging.ERROR
            self._rejections_logged.add(error.reason)
            log.log(level, "%s: an alert was rejected for good: %s", self.name, error.reason)
            return True
        except SinkBroken as error:
            self._count("failed")
            self._break(error.reason)
            return False
        except Exception as error:
            # A bug, not the sink: it would fail again on every retry and hold back the alerts
            # behind it. Set this one aside (kept in the outbox as failed) and say so loudly.
            log.exception("%s: unexpected error delivering %s; set aside", self.name, item.key)
            self._outbox.mark_failed(item.key, self._clock(), f"{type(error).__name__}: {error}")
            self._count("dropped_permanent")
            return True
        now = self._clock()
        self._outbox.mark_delivered(item.key, now)
        self._count("sent")
        self._observer.alert_delivered(self.name, max(now - item.enqueued_at, 0))
        if self._failures:
            log.info("%s: delivering again after %d failed attempts", self.name, self._failures)
            self._failures = 0
        return True

    def _break(self, reason: str) -> None:
        self.broken, self.broken_since, self.last_error = reason, self._clock(), reason
        self._observer.sink_failing(self.name, True)
        log.error(
            "%s: %s; no more deliveries until the sentinel restarts with this fixed "
            "(alerts wait in the outbox)",
            self.name,
            reason,
        )

    def _retry(self, item: Item, error: DeliveryError, delay: float) -> None:
        now = self._clock()
        delay = min(max(delay, 0.0), MAX_RETRY_AFTER)
        self._paused_until = now + delay
        self._outbox.schedule_retry(item.key, self._paused_until, error.reason)
        self._count("retried")
        self.last_error = error.reason
        level = logging.WARNING if self._failures == 0 else logging.DEBUG
        log.log(
            level, "%s: delivery failed (%s); retrying in %.3gs", self.name, error.reason, delay
        )
        self._failures += 1

    async def _maybe_refresh(self, now: float) -> None:
        interval = self.transport.refresh_interval
        if interval is None or now - self._last_refresh < interval:
            return
        self._last_refresh = now
        # Upkeep is best effort: the next interval tries again, and items keep their own retries.
        with suppress(RetryLater, Transient, Rejected):
            try:
                await self.transport.refresh(self._outbox, now)
            except SinkBroken as error:
                self._break(error.reason)

    def _idle_timeout(self) -> float:
        now = self._clock()
        due = self._outbox.next_due(self.name)
        timeout = IDLE if due is None else min(IDLE, max(due - now, 0.0))
        if self.transport.refresh_interval is not None:
            timeout = min(
                timeout, max(self._last_refresh + self.transport.refresh_interval - now, 0)
            )
        return timeout

    def _count(self, outcome: str) -> None:
        self._observer.alert_counted(self.name, outcome)


async def wait_any(
    stop: asyncio.Event,
    kick: asyncio.Event | None,
    seconds: float | None,  # not `timeout`: this waits that long, it does not fail after it
) -> None:
    """Until `stop` or `kick` is set, or `seconds` pass."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if kick is not None:
        waiters.append(asyncio.ensure_future(kick.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
