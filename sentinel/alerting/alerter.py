"""What the watcher calls: `accept` puts findings in the outbox (fast, no network), `flush_due`
turns closed grouping windows and reminders of open stalls into deliveries, `run_sender`
delivers, `status` tells /readyz."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sentinel.alerting.delivery import SinkWorker, wait_any
from sentinel.alerting.grouper import Context, Planner, group, is_digest
from sentinel.alerting.observer import AlertObserver, NullAlertObserver
from sentinel.alerting.reminders import (
    RETENTION,
    OpenStall,
    Rollouts,
    Snoozed,
    due_reminders,
    no_snoozes,
    no_stalls,
)
from sentinel.alerting.router import close_at, route
from sentinel.alerting.settings import AlertingSettings, Silence
from sentinel.alerting.settings_parser import load_silences_file
from sentinel.alerting.sinks import sink_of
from sentinel.alerting.sinks.base import Sink
from sentinel.core.engine.actions import Action, Verb
from sentinel.core.engine.findings import ROLLOUT_KINDS, Finding, Kind
from sentinel.core.engine.snapshots import RolloutView
from sentinel.core.errors import ConfigError
from sentinel.core.ports.outbox import Held, Outbox, thread_key

log = logging.getLogger("sentinel.alerting")
View = Callable[[str, str], RolloutView | None]
PRUNE_EVERY = 3600.0
# How often the open stalls are looked at for reminders (`renotify_after`, `escalate`): the
# rollouts known to have one. Every WALK_EVERY (and first) all open rollouts are walked, which
# finds those restored at a start or brought by a rebalance (0.4 s for a million).
REMIND_EVERY = 10.0
WALK_EVERY = 600.0
SILENCES_CHECK = 1.0
# The flusher looks at the outbox at least this often, even when nothing wakes it.
IDLE = 1.0
# A digest keeps this many findings of each kind per window whole; the rest are only counted,
# so a flood of distinct event types costs a bounded number of rows.
DIGEST_SAMPLE = 20


class Alerter:
    """Routes findings to sinks through an outbox; one per process."""

    def __init__(
        self,
        settings: AlertingSettings,
        outbox: Outbox,
        observer: AlertObserver | None = None,
        *,
        clock: Callable[[], float] = time.time,
        stalls: Callable[[Rollouts | None], Iterable[OpenStall]] = no_stalls,
        snoozes: Callable[[float, Rollouts | None], Iterable[Snoozed]] = no_snoozes,
    ) -> None:
        """`outbox` may share the state store's connection: `accept` and `flush_due` called
        inside the store's batch join its transaction. The sender writes between batches (at
        await points), so it only ever sees alerts whose batch was committed. `stalls` gives
        the open stalls that `renotify_after` and `escalate` tell again, of some rollouts or
        (None) of all (the engine's: `reminders.open_stalls`); `snoozes` the open rollouts'
        latest snoozes, whose end the sinks tell (`reminders.snoozes`)."""
        self._settings = settings
        self._outbox = outbox
        self._observer: AlertObserver = observer or NullAlertObserver()
        self._clock = clock
        self._stalls = stalls
        self._sinks: dict[str, Sink[Any]] = {sink.name: sink_of(sink) for sink in settings.sinks}
        self._planners: dict[str, Planner] = {name: sink.plan for name, sink in self._sinks.items()}
        self._reminding = settings.renotify_after is not None or settings.escalate is not None
        self._last_remind = float("-inf")
        self._last_walk = float("-inf")
        # The rollouts with an open stall, as last looked at and told since; None: walk all.
        self._stalled: set[tuple[str, str]] | None = None
        self._snoozes = snoozes
        self._acting = any(sink.on_action is not None for sink in self._sinks.values())
        self._last_snooze_look = float("-inf")
        self._last_snooze_walk = float("-inf")
        # The rollouts with a snooze not yet over, as last looked at and snoozed since (acted);
        # None: walk all.
        self._snoozed: set[tuple[str, str]] | None = None
        self._silences: tuple[Silence, ...] = settings.silences
        self._silences_mtime: int | None = None
        self._silences_checked = float("-inf")
        self._last_prune = float("-inf")
        self._flush_kick = asyncio.Event()
        self._released = asyncio.Event()
        self._released.set()
        self._workers: dict[str, SinkWorker] = {}
        self._reload_silences()

    def accept(self, findings: Sequence[Finding], view: View, now: float) -> None:
        """Route findings into the outbox; `view` gives a rollout as the engine sees it now.
        Synchronous and quick: it never waits for a sink. Call it on the event loop's thread."""
        self._refresh_silences(now)
        decision = route(findings, self._settings, self._silences, now)
        for sink, outcome in decision.muted:
            self._count(sink, outcome)
        if not decision.routed:
            return
        views: dict[tuple[str, str], RolloutView | None] = {}
        closes: dict[tuple[str, str], float] = {}
        with self._outbox.transaction():
            for routed in decision.routed:
                finding = routed.finding
                snapshot = None
                if finding.kind in ROLLOUT_KINDS and finding.expectation and finding.rollout:
                    ident = (finding.expectation, finding.rollout)
                    if ident not in views:
                        views[ident] = view(*ident)
                    snapshot = views[ident]
                bucket = (routed.sink, routed.bucket)
                if bucket not in closes:
                    open_close, last_flush = self._outbox.bucket_times(*bucket)
                    closes[bucket] = close_at(
                        now, routed.window, routed.gap, open_close, last_flush
                    )
                held = Held(
                    key=f"{finding.id}:{routed.sink}",
                    sink=routed.sink,
                    bucket=routed.bucket,
                    destination=routed.destination,
                    opens=routed.opens,
                    finding=finding,
                    view=snapshot,
                    held_at=now,
                    close_at=closes[bucket],
                )
                if routed.digest:
                    self._outbox.hold_sampled(held, DIGEST_SAMPLE)
                else:
                    self._outbox.hold(held)
                if finding.kind == Kind.STALL and self._stalled is not None:
                    self._stalled.add((finding.expectation or "", finding.rollout or ""))
        self._flush_kick.set()
        self._update_depth({routed.sink for routed in decision.routed})

    def acted(self, applied: Sequence[tuple[Action, RolloutView]], now: float) -> None:
        """On-call actions just kept, each with its rollout's view after it: every configured
        sink with an `on_action` planner (`sinks/base.py`) plans what to say of each, given
        its thread of the rollout; the deliveries join the outbox (and the store's batch).
        Routing, silences and shadow mode are the planner's to respect: an action is not a
        finding, and a sink that never told the rollout usually has nothing to say."""
        touched: set[str] = set()
        if self._snoozed is not None:  # its end is looked for (`_snoozes_over`)
            self._snoozed |= {
                (view.expectation, view.rollout)
                for action, view in applied
                if action.verb is Verb.SNOOZE
            }
        with self._outbox.transaction():
            for name, sink in self._sinks.items():
                if sink.on_action is None:
                    continue
                ctx = Context(name, now, self._settings)
                for action, view in applied:
                    thread = self._outbox.thread(name, thread_key(view.expectation, view.rollout))
                    for item in sink.on_action(action, view, thread, ctx):
                        if self._outbox.enqueue(item):
                            touched.add(name)
        for name in touched:
            worker = self._workers.get(name)
            if worker is not None:
                worker.kick.set()
        if touched:
            self._flush_kick.set()
            self._update_depth(touched)

    def flush_due(self, now: float) -> None:
        """Turn every grouping window closed by `now` into deliveries (the sender also calls it)."""
        self._refresh_silences(now)
        if now - self._last_prune >= PRUNE_EVERY:
            self._last_prune = now
            self._outbox.prune(now - RETENTION)
        touched: set[str] = set()
        with self._outbox.transaction():
            closed = self._outbox.take_closed(now)
            by_sink: dict[str, list[Held]] = {}
            digests: set[tuple[str, str]] = set()
            for held in closed:
                by_sink.setdefault(held.sink, []).append(held)
                if is_digest(held.bucket):
                    digests.add((held.sink, held.bucket))
            for sink, bucket in digests:
                # Only the last flush's time matters to the next window of a digest.
                self._outbox.forget_flushed(sink, bucket, now)
            for sink, batch in by_sink.items():
                planner = self._planners.get(sink)
                if planner is None:
                    log.warning(
                        "%d alerts for sink %s, which is no longer configured, dropped",
                        len(batch),
                        sink,
                    )
                    continue
                rollouts, events = group(batch)
                threads = {}
                for rollout in rollouts:
                    known = self._outbox.thread(sink, rollout.key)
                    if known is not None:
                        threads[rollout.key] = known
                plan = planner(rollouts, events, threads, Context(sink, now, self._settings))
                for item in plan.items:
                    self._outbox.enqueue(item)
                for key, thread in plan.threads.items():
                    self._outbox.save_thread(sink, key, thread)
                touched.add(sink)
            touched |= self._remind(now)
            touched |= self._snoozes_over(now)
        for sink in touched:
            worker = self._workers.get(sink)
            if worker is not None:
                worker.kick.set()
        self._update_depth(touched)

    def _snoozes_over(self, now: float) -> set[str]:
        """Every REMIND_EVERY, the snoozes over by `now` (of the rollouts snoozed, and every
        WALK_EVERY of every open rollout): each sink's `on_action` is asked again with the
        snooze, now past its end, and says so in the rollout's thread; its key names the
        snooze, so it is told once. The sinks given something to deliver."""
        if not self._acting or now - self._last_snooze_look < REMIND_EVERY:
            return set()
        self._last_snooze_look = now
        walk = self._snoozed is None or now - self._last_snooze_walk >= WALK_EVERY
        if walk:
            self._last_snooze_walk = now
        found = list(self._snoozes(now, None if walk else self._snoozed))
        self._snoozed = {(s.expectation, s.rollout) for s in found if not s.over(now)}
        touched = set()
        for snoozed in found:
            if snoozed.view is None or not snoozed.over(now):
                continue
            key = thread_key(snoozed.expectation, snoozed.rollout)
            for name, sink in self._sinks.items():
                thread = self._outbox.thread(name, key)
                if sink.on_action is None or thread is None or thread.resolved_at is not None:
                    continue
                ctx = Context(name, now, self._settings)
                for item in sink.on_action(snoozed.snooze, snoozed.view, thread, ctx):
                    if self._outbox.enqueue(item):
                        touched.add(name)
        return touched

    def _remind(self, now: float) -> set[str]:
        """Enqueue the reminders of open stalls due at `now` (`reminders.due_reminders`), to
        the sinks the stall was routed to (shadow mode, `alert_on` and silences as for the
        stall itself) that tell reminders; the outbox takes each reminder's key once. The
        sinks given something to deliver."""
        if not self._reminding or now - self._last_remind < REMIND_EVERY:
            return set()
        self._last_remind = now
        walk = self._stalled is None or now - self._last_walk >= WALK_EVERY
        if walk:
            self._last_walk = now
        stalls = list(self._stalls(None if walk else self._stalled))
        self._stalled = {(s.finding.expectation or "", s.finding.rollout or "") for s in stalls}
        touched = set()
        for reminder in due_reminders(stalls, now, self._settings):
            stall = reminder.stall
            for routed in route([stall.finding], self._settings, self._silences, now).routed:
                sink = self._sinks[routed.sink]
                tell = sink.escalate if reminder.escalation else sink.remind
                if tell is None:
                    continue
                thread = self._outbox.thread(routed.sink, stall.key)
                if thread is not None and thread.resolved_at is not None:
                    continue
                item = tell(reminder, thread, Context(routed.sink, now, self._settings))
                if item is not None and self._outbox.enqueue(item):
                    touched.add(routed.sink)
        return touched

    def hold(self) -> None:
        """Take no new item from the outbox until `release`: the watcher holds deliveries
        from a batch's transaction until the broker has its changelog records, so that an
        alert is never sent for a batch that a replica's death could make its successor
        raise again."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    async def run_sender(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set: a worker per sink, and the grouping windows' flusher."""
        transports = [sink_of(sink).transport(sink) for sink in self._settings.sinks]
        self._workers = {
            transport.name: SinkWorker(
                transport,
                self._outbox,
                self._observer,
                self._clock,
                self._settings.retry_initial,
                self._settings.retry_max,
                self._released,
            )
            for transport in transports
        }
        self._update_depth(set(self._workers))
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._flusher(stop))
                for worker in self._workers.values():
                    tasks.create_task(worker.run(stop))
        finally:
            for transport in transports:
                await transport.aclose()

    def status(self) -> dict[str, dict[str, Any]]:
        """Per sink: ok, the permanent error and since when, retrying, alerts pending and failed."""
        result = {}
        for name in self._settings.sink_names:
            worker = self._workers.get(name)
            entry: dict[str, Any] = (
                worker.status()
                if worker is not None
                else {
                    "ok": True,
                    "error": None,
                    "since": None,
                    "retrying": False,
                    "last_error": None,
                    "retry_at": None,
                }
            )
            entry["pending"] = self._outbox.depth(name)
            entry["failed"] = self._outbox.failed(name)
            result[name] = entry
        return result

    async def _flusher(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._flush_kick.clear()
            self.flush_due(self._clock())
            next_close = self._outbox.next_close()
            timeout = IDLE if next_close is None else min(IDLE, next_close - self._clock())
            await wait_any(stop, self._flush_kick, max(timeout, 0.0))

    def _refresh_silences(self, now: float) -> None:
        """Re-read the silences file when it changed: silences apply without a restart."""
        path = self._settings.silences_file
        if path is None or now - self._silences_checked < SILENCES_CHECK:
            return
        self._silences_checked = now
        self._reload_silences()

    def _reload_silences(self) -> None:
        path = self._settings.silences_file
        if path is None:
            return
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            mtime = -1  # no file: no silences from it
        if mtime == self._silences_mtime:
            return
        self._silences_mtime = mtime
        try:
            loaded = load_silences_file(path)
        except ConfigError as error:
            log.error("%s; the silences in force stay as they were", error)
            return
        self._silences = self._settings.silences + loaded
        log.info("silences: %d in force (%d from %s)", len(self._silences), len(loaded), path)

    def _update_depth(self, sinks: set[str]) -> None:
        for sink in sinks:
            self._observer.outbox_depth(sink, self._outbox.depth(sink))

    def _count(self, sink: str, outcome: str) -> None:
        self._observer.alert_counted(sink, outcome)
