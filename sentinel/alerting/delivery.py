"""Delivery from the outbox, one worker per sink and a task per busy lane: in order within a
lane, honouring Retry-After, backing off on errors, and stopping a sink (not retrying forever)
when its configuration is wrong.

A lane (one sink and one destination: a Slack channel) goes out strictly in order of priority
and enqueuing: a failed delivery holds back those behind it, so a reply never overtakes its
thread's parent and a resolution never overtakes its alert (a rollout's thread lives in one
channel). Lanes do not wait for each other: one channel's backlog, rate limit or back-off
never delays another's alerts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Protocol

from sentinel.alerting.observer import AlertObserver
from sentinel.core.ports.outbox import Item, Outbox
from sentinel.core.timefmt import format_rfc3339

log = logging.getLogger("sentinel.alerting")
# Lanes of one sink delivering at the same time (HTTP calls in flight); the others wait.
LANES_AT_ONCE = 8
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


@dataclass(slots=True)
class _Lane:
    """What the worker knows of one lane: its pause (Retry-After, back-off) and its task."""

    paused_until: float = 0.0
    failures: int = 0
    busy: bool = False


class SinkWorker:
    """Delivers one sink's items, lane by lane; its state is what `/readyz` details show."""

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
        self._lanes: dict[str, _Lane] = {}
        self._last_refresh = clock()  # firing alerts were sent with an end a few intervals ahead
        self._rejections_logged: set[str] = set()
        self.broken: str | None = None
        self.broken_since: float | None = None
        self.last_error: str | None = None
        observer.sink_started(self.name)

    def status(self) -> dict[str, Any]:
        now = self._clock()
        paused = [lane.paused_until for lane in self._lanes.values() if lane.paused_until > now]
        return {
            "ok": self.broken is None,
            "error": self.broken,
            "since": None if self.broken_since is None else format_rfc3339(self.broken_since),
            "retrying": any(lane.failures > 0 for lane in self._lanes.values()),
            "last_error": self.last_error,
            "retry_at": format_rfc3339(min(paused)) if paused else None,
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Start a task for each lane with a delivery due, until `stop` is set."""
        async with asyncio.TaskGroup() as tasks:
            while not stop.is_set() and self.broken is None:
                self.kick.clear()
                if not self._released.is_set():
                    await wait_any(stop, self._released, None)
                    continue
                now = self._clock()
                if self._busy() == 0:
                    await self._maybe_refresh(now)
                heads = self._outbox.lanes(self.name)
                for name in set(self._lanes) - set(heads):
                    if not self._lanes[name].busy:
                        del self._lanes[name]  # nothing pending: nothing to remember
                waits = [now + IDLE]
                for name, due in heads.items():
                    lane = self._lanes.setdefault(name, _Lane())
                    starts = max(due, lane.paused_until)
                    if lane.busy:
                        continue
                    if starts > now:
                        waits.append(starts)
                    elif self._busy() < LANES_AT_ONCE:  # else a lane that ends kicks us
                        lane.busy = True
                        tasks.create_task(self._drain(name, lane, stop))
                refresh = self.transport.refresh_interval
                if refresh is not None:
                    waits.append(self._last_refresh + refresh)
                await wait_any(stop, self.kick, max(min(waits) - now, 0.0))
        if self.broken is not None:
            await wait_any(stop, None, None)

    async def _drain(self, name: str, lane: _Lane, stop: asyncio.Event) -> None:
        """Deliver one lane's items in order until it is empty, paused, held or stopped. One
        item at a time: a rollout alert queued meanwhile goes ahead of the noise behind it."""
        try:
            while not stop.is_set() and self.broken is None and self._released.is_set():
                now = self._clock()
                if lane.paused_until > now:
                    break
                await self._maybe_refresh(now)
                items = self._outbox.take_due(self.name, name, now, 1)
                if not items:
                    break
                delivered = await self._attempt(items[0], name, lane)
                self._update_depth()
                if not delivered:
                    break
        finally:
            lane.busy = False
            self.kick.set()

    def _busy(self) -> int:
        return sum(lane.busy for lane in self._lanes.values())

    def _update_depth(self) -> None:
        self._observer.outbox_depth(self.name, self._outbox.depth(self.name))

    async def _attempt(self, item: Item, name: str, lane: _Lane) -> bool:
        """Deliver one item; False when the lane must stop taking items for now."""
        try:
            await self.transport.deliver(item, self._outbox, self._clock())
        except RetryLater as error:
            self._retry(item, error, error.after, name, lane)
            return False
        except Transient as error:
            delay = min(self._retry_max, self._retry_initial * 2**lane.failures)
            self._retry(item, error, delay, name, lane)
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
        if lane.failures:
            log.info(
                "%s: delivering again after %d failed attempts",
                _named(self.name, name),
                lane.failures,
            )
            lane.failures = 0
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

    def _retry(
        self, item: Item, error: DeliveryError, delay: float, name: str, lane: _Lane
    ) -> None:
        now = self._clock()
        delay = min(max(delay, 0.0), MAX_RETRY_AFTER)
        lane.paused_until = now + delay
        self._outbox.schedule_retry(item.key, lane.paused_until, error.reason)
        self._count("retried")
        self.last_error = error.reason
        level = logging.WARNING if lane.failures == 0 else logging.DEBUG
        log.log(
            level,
            "%s: delivery failed (%s); retrying in %.3gs",
            _named(self.name, name),
            error.reason,
            delay,
        )
        lane.failures += 1

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

    def _count(self, outcome: str) -> None:
        self._observer.alert_counted(self.name, outcome)


def _named(sink: str, lane: str) -> str:
    """The sink, and the lane when it has a name: `slack #rollouts`."""
    return f"{sink} {lane}" if lane else sink


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
