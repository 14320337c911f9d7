"""The core's and alerting's observations to Prometheus metrics, label values only from known
names: the one place that knows both the observer protocols and the metric families."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from prometheus_client import Counter, Gauge

from sentinel.alerting.observer import OUTCOMES
from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding
from sentinel.core.engine.rollout import RolloutState
from sentinel.core.pipeline.pipeline import PipelineObserver
from sentinel.runtime.exemplars import finding_labels, span_of
from sentinel.runtime.histograms import Series
from sentinel.runtime.metrics import OTHER_TYPE, Metrics


class MetricsObserver:
    """The engine's observer in the live watcher (see sentinel.core.engine.engine.EngineObserver).

    The engine reports every event; those reports are counted in plain integers and added to
    the Prometheus counters once per batch (`batch_kept`): a `labels().inc()` costs a lock and
    a few microseconds, and an event should cost about that in all. Step waits and rollout
    durations carry an exemplar naming the rollout's trace (sentinel.runtime.exemplars).

    `wall_clock` is the watcher's: the time of an exemplar, and when a batch's findings are
    told (`sentinel_finding_delay_seconds`).
    """

    def __init__(
        self,
        metrics: Metrics,
        known_types: Iterable[str],
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.metrics = metrics
        self._wall_clock = wall_clock
        self._known_types = frozenset(known_types)
        # Counted since the last batch: (type, outcome) -> events; expectation -> opened
        # minus closed.
        self._read: dict[tuple[str, str], int] = {}
        self._opened: dict[str, int] = {}
        # Label children, cached: `labels()` costs microseconds per call.
        self._events: dict[tuple[str, str], Counter] = {}
        self._waits: dict[tuple[str, str], Series] = {}
        self._durations: dict[tuple[str, str], Series] = {}
        self._delays: dict[str, Series] = {}
        self._open: dict[str, Gauge] = {}

    @property
    def known_types(self) -> frozenset[str]:
        return self._known_types

    @known_types.setter
    def known_types(self, types: frozenset[str]) -> None:
        self._flush_events()
        self._known_types = types
        self._events.clear()

    def events_read(self, counts: Mapping[tuple[str, str], int]) -> None:
        read = self._read
        for key, count in counts.items():
            read[key] = read.get(key, 0) + count

    def rollout_opened(self, expectation: str) -> None:
        self._opened[expectation] = self._opened.get(expectation, 0) + 1

    def capacity_reached(self, bound: str, expectation: str | None) -> None:
        self.metrics.capacity_refused.labels(bound, expectation or "").inc()

    def trace_context(self, source: str, outcome: str) -> None:
        self.metrics.trace_context.labels(source, outcome).inc()

    def rollout_closed(self, rollout: RolloutState, outcome: str, duration_s: float) -> None:
        expectation = rollout.expectation
        self._opened[expectation] = self._opened.get(expectation, 0) - 1
        if outcome not in ("completed", "rolled_back"):
            return  # an abandoned rollout (a person called it off) has no duration to time
        child = self._durations.get((expectation, outcome))
        if child is None:
            child = self._durations[(expectation, outcome)] = self.metrics.rollout_duration.labels(
                expectation, outcome
            )
        child.observe_with(duration_s, span_of(rollout, None), self._wall_clock())

    def step_seen(self, rollout: RolloutState, step: str, wait_s: float) -> None:
        expectation = rollout.expectation
        child = self._waits.get((expectation, step))
        if child is None:
            child = self._waits[(expectation, step)] = self.metrics.step_wait.labels(
                expectation, step
            )
        child.observe_with(wait_s, span_of(rollout, step), self._wall_clock())

    def batch_kept(
        self,
        records: int,
        findings: Sequence[Finding],
        skews: Sequence[float],
        changed: Collection[tuple[str, str]],
    ) -> None:
        self._flush_events()
        for expectation, change in self._opened.items():
            if change:
                self._open_gauge(expectation).inc(change)
        self._opened.clear()
        if findings:
            self._count_findings(findings)
        self.metrics.event_clock_skew.labels().observe_many(skews)

    def _count_findings(self, findings: Sequence[Finding]) -> None:
        """Count them, the last one of each kind and expectation with a trace as the counter's
        exemplar, and observe how long after becoming true each is told (now)."""
        told = self._wall_clock()
        counted: dict[tuple[str, str], int] = {}
        last: dict[tuple[str, str], dict[str, str]] = {}
        for finding in findings:
            key = (finding.kind, finding.expectation or "")
            counted[key] = counted.get(key, 0) + 1
            labels = finding_labels(finding)
            if labels is not None:
                last[key] = labels
            self._delay(finding.kind).observe(max(0.0, told - became_true(finding)))
        for labelled, count in counted.items():
            child = self.metrics.findings.labels(*labelled)
            exemplar = last.get(labelled)
            if exemplar is None:
                child.inc(count)
                continue
            if count > 1:
                child.inc(count - 1)
            child.inc(1, exemplar)  # the exemplar's value: one finding

    def _delay(self, kind: str) -> Series:
        child = self._delays.get(kind)
        if child is None:
            child = self._delays[kind] = self.metrics.finding_delay.labels(kind)
        return child

    def _flush_events(self) -> None:
        for key, count in self._read.items():
            child = self._events.get(key)
            if child is None:
                event_type, outcome = key
                label = event_type if event_type in self._known_types else OTHER_TYPE
                child = self._events[key] = self.metrics.events.labels(label, outcome)
            child.inc(count)
        self._read.clear()

    def _open_gauge(self, expectation: str) -> Gauge:
        child = self._open.get(expectation)
        if child is None:
            child = self._open[expectation] = self.metrics.rollouts_open.labels(expectation)
        return child

    # ---- alerting -------------------------------------------------------------------------

    def sink_started(self, sink: str) -> None:
        self.metrics.sink_failing.labels(sink).set(0)
        for outcome in OUTCOMES[:4]:  # the delivery outcomes; muting ones appear when they happen
            self.metrics.alerts_sent.labels(sink, outcome)

    def alert_counted(self, sink: str, outcome: str) -> None:
        self.metrics.alerts_sent.labels(sink, outcome).inc()

    def alert_delivered(self, sink: str, seconds: float) -> None:
        self.metrics.alert_delivery.labels(sink).observe(seconds)

    def outbox_depth(self, sink: str, depth: int) -> None:
        self.metrics.outbox_depth.labels(sink).set(depth)

    def sink_failing(self, sink: str, failing: bool) -> None:
        self.metrics.sink_failing.labels(sink).set(1 if failing else 0)

    def recount(self, engine: Engine) -> None:
        """Set the open-rollout gauge from the engine (after a restore or a reload)."""
        self._opened.clear()  # the engine's own count replaces what was noted since
        counts = dict.fromkeys(engine.expectations, 0)
        for rollout in engine.open_rollouts():
            counts[rollout.expectation] = counts.get(rollout.expectation, 0) + 1
        self.metrics.rollouts_open.clear()
        self._open.clear()
        for name, count in counts.items():
            self.metrics.rollouts_open.labels(name).set(count)


def became_true(finding: Finding) -> float:
    """When what a finding says became true: a stall's or a deadline_exceeded's due time (the
    only kinds with a `deadline`); for the others, about an event or a rollout it changed, the
    clock when the sentinel raised it (live, when the event's batch was read: the event's own
    time is the producer's clock, whose skew `sentinel_event_clock_skew_seconds` shows)."""
    return finding.deadline if finding.deadline is not None else finding.at


class PipelineObservers:
    """Several pipeline observers (metrics, the board's live feed), told in turn."""

    def __init__(self, *observers: PipelineObserver) -> None:
        self._observers = observers

    def batch_kept(
        self,
        records: int,
        findings: Sequence[Finding],
        skews: Sequence[float],
        changed: Collection[tuple[str, str]],
    ) -> None:
        for observer in self._observers:
            observer.batch_kept(records, findings, skews, changed)
