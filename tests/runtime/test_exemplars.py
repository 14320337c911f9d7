"""Metrics for tracing (contract section 13, "Metrics"): /metrics answers OpenMetrics to a
scraper that asks for it, with exemplars naming the rollout's trace on the findings counter,
the step waits and the rollout durations; and how long after becoming true a finding is told."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

import aiohttp
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as classic_families
from prometheus_client.samples import Sample, Timestamp

from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.rollout import RolloutState
from sentinel.core.engine.tracing import root_span_id, step_span_id, trace_id_of
from sentinel.core.events.records import Partition
from sentinel.runtime.histograms import PlainHistogram
from sentinel.runtime.metrics import Metrics
from sentinel.runtime.metrics_observer import MetricsObserver
from sentinel.web.http import HttpServer, OpenMetricsView

from .fake_source import Clock, FakeSource
from .watcher_support import MESSAGING, SCHEMA, SERVICE, cloud_event

T0 = 1_795_600_800.0
P0 = Partition("rollout.events", 0)
# What Prometheus 2.x asks for when it scrapes.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
Start = Callable[..., Any]


def samples(registry: CollectorRegistry, name: str) -> list[Sample]:
    """The samples named `name` in the OpenMetrics that /metrics serves, parsed back."""
    text = openmetrics(OpenMetricsView(registry)).decode()  # type: ignore[no-untyped-call]
    return [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def exemplars(registry: CollectorRegistry, name: str, **labels: str) -> list[Sample]:
    return [
        sample
        for sample in samples(registry, name)
        if sample.exemplar is not None and labels.items() <= sample.labels.items()
    ]


# Negotiation.


async def scrape(registry: CollectorRegistry, accept: str | None) -> tuple[str, str]:
    server = HttpServer("127.0.0.1", 0, registry)
    await server.start()
    try:
        headers = {} if accept is None else {"Accept": accept}
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{server.port}/metrics"
            async with session.get(url, headers=headers) as response:
                assert response.status == 200
                return response.headers["Content-Type"], await response.text()
    finally:
        await server.stop()


async def test_a_scraper_asking_for_openmetrics_gets_it_with_the_exemplars() -> None:
    registry = CollectorRegistry()
    observer = MetricsObserver(Metrics(registry), (), Clock(T0 + 60))
    observer.step_seen(RolloutState("deploy", "r1", T0), "Migrated", 42.0)
    for accept in (PROMETHEUS_ACCEPT, "application/openmetrics-text"):
        content_type, body = await scrape(registry, accept)
        assert content_type.startswith("application/openmetrics-text; version=1.0.0")
        assert body.endswith("# EOF\n")
        (bucket,) = [
            sample
            for family in text_string_to_metric_families(body)
            for sample in family.samples
            if sample.exemplar is not None
        ]
        assert bucket.name == "sentinel_step_wait_seconds_bucket"
        assert bucket.labels["le"] == "60.0"


async def test_any_other_scraper_gets_the_classic_text_as_before_without_exemplars() -> None:
    registry = CollectorRegistry()
    observer = MetricsObserver(Metrics(registry), (), Clock(T0 + 60))
    observer.step_seen(RolloutState("deploy", "r1", T0), "Migrated", 42.0)
    for accept in (None, "text/plain;version=0.0.4", "*/*", "application/json"):
        content_type, body = await scrape(registry, accept)
        assert content_type == CONTENT_TYPE_LATEST
        assert "# EOF" not in body and "trace_id" not in body
        names = {family.name for family in classic_families(body)}
        assert "sentinel_step_wait_seconds" in names


def test_a_histogram_of_signed_values_has_no_count_in_openmetrics_only() -> None:
    registry = CollectorRegistry()
    Metrics(registry).event_clock_skew.observe(-3.0)
    name = "sentinel_event_clock_skew_seconds"
    # OpenMetrics allows a `_count` only beside a `_sum`, which signed values cannot have.
    assert samples(registry, f"{name}_count") == []
    (total,) = [s for s in samples(registry, f"{name}_bucket") if s.labels["le"] == "+Inf"]
    assert total.value == 1
    classic = generate_latest(registry).decode()
    assert f"{name}_count 1.0" in classic and f"{name}_sum" not in classic


# Exemplars.


def test_a_step_wait_names_the_rollouts_trace_and_the_steps_span() -> None:
    registry = CollectorRegistry()
    clock = Clock(T0 + 300)
    observer = MetricsObserver(Metrics(registry), (), clock)
    rollout = RolloutState("deploy", "r1", T0)
    observer.step_seen(rollout, "Migrated", 42.0)
    clock.now = T0 + 301
    observer.step_seen(RolloutState("deploy", "r2", T0 + 1), "Migrated", 7.0)
    trace = trace_id_of("deploy", "r1", T0)
    late, early = sorted(
        exemplars(registry, "sentinel_step_wait_seconds_bucket", step="Migrated"),
        key=lambda sample: -float(sample.labels["le"]),
    )
    assert late.labels["le"] == "60.0" and early.labels["le"] == "15.0"
    assert late.exemplar is not None and early.exemplar is not None
    assert late.exemplar.labels == {"trace_id": trace, "span_id": step_span_id(trace, "Migrated")}
    assert late.exemplar.value == 42.0
    assert late.exemplar.timestamp == Timestamp(int(T0) + 300, 0)  # the wall clock then
    assert early.exemplar.labels["trace_id"] == trace_id_of("deploy", "r2", T0 + 1)


def test_a_rollout_duration_names_the_rollouts_root_span() -> None:
    registry = CollectorRegistry()
    observer = MetricsObserver(Metrics(registry), (), Clock(T0 + 900))
    observer.rollout_closed(RolloutState("deploy", "r1", T0), "rolled_back", 700.0)
    (bucket,) = exemplars(registry, "sentinel_rollout_duration_seconds_bucket")
    trace = trace_id_of("deploy", "r1", T0)
    assert bucket.labels["outcome"] == "rolled_back" and bucket.labels["le"] == "900.0"
    assert bucket.exemplar is not None
    assert bucket.exemplar.labels == {"trace_id": trace, "span_id": root_span_id(trace)}


def test_an_exemplars_ids_are_computed_when_scraped_and_only_once() -> None:
    made: list[Hashable] = []

    def labels(source: Hashable) -> Mapping[str, str]:
        made.append(source)
        return {"trace_id": str(source)}

    registry = CollectorRegistry()
    histogram = PlainHistogram("wait_seconds", "Waits.", ["step"], (1, 5), registry, labels)
    histogram.labels("a").observe_with(3.0, "first", T0)
    histogram.labels("a").observe_with(4.0, "second", T0 + 1)  # the bucket's last one counts
    histogram.labels("a").observe(0.5)  # no exemplar: the bucket has none
    assert made == []
    for _ in range(2):
        found = {s.labels["le"]: s.exemplar for s in samples(registry, "wait_seconds_bucket")}
        assert found["1.0"] is None and found["+Inf"] is None
        assert found["5.0"] is not None and found["5.0"].labels == {"trace_id": "second"}
    assert made == ["second"]


def finding(kind: Kind, rollout: str | None, at: float, **fields: Any) -> Finding:
    trace = None if rollout is None else trace_id_of("deploy", rollout, T0)
    return Finding(kind, at, expectation="deploy", rollout=rollout, trace_id=trace, **fields)


def test_the_findings_counter_names_the_last_traced_finding_of_each_kind() -> None:
    registry = CollectorRegistry()
    observer = MetricsObserver(Metrics(registry), (), Clock(T0 + 100))
    first = finding(Kind.STALL, "r1", T0 + 90, step="Migrated", deadline=T0 + 60)
    second = finding(Kind.STALL, "r2", T0 + 90, step="Migrated", deadline=T0 + 80)
    untraced = finding(Kind.SCHEMA_VIOLATION, None, T0 + 90, event_id="e1", errors=("bad",))
    observer.batch_kept(3, [first, second, untraced], [], ())
    labels = {"kind": "stall", "expectation": "deploy"}
    assert registry.get_sample_value("sentinel_findings_total", labels) == 2
    (stalls,) = exemplars(registry, "sentinel_findings_total", kind="stall")
    assert stalls.exemplar is not None
    assert stalls.exemplar.labels == {"trace_id": second.trace_id, "span_id": second.span_id}
    assert stalls.exemplar.value == 1
    # No rollout, no trace: counted, with no exemplar.
    violations = {"kind": "schema_violation", "expectation": "deploy"}
    assert registry.get_sample_value("sentinel_findings_total", violations) == 1
    assert exemplars(registry, "sentinel_findings_total", kind="schema_violation") == []


# How long after becoming true a finding is told.


def test_a_finding_is_told_after_its_deadline_or_after_it_was_raised() -> None:
    registry = CollectorRegistry()
    observer = MetricsObserver(Metrics(registry), (), Clock(T0 + 100))
    observer.batch_kept(
        3,
        [
            finding(Kind.STALL, "r1", T0 + 99, step="Migrated", deadline=T0 + 40),
            finding(Kind.DEADLINE_EXCEEDED, "r2", T0 + 99, deadline=T0 + 98),
            finding(Kind.COMPLETED, "r3", T0 + 99.8, duration_s=5.0),
            # Raised on a clock ahead of the wall clock (a test's): never a negative delay.
            finding(Kind.RECOVERED, "r4", T0 + 200, step="Migrated"),
        ],
        [],
        (),
    )

    def delay(kind: str, field: str = "sum") -> float | None:
        name = f"sentinel_finding_delay_seconds_{field}"
        return registry.get_sample_value(name, {"kind": kind})

    assert delay("stall") == 60.0
    assert delay("deadline_exceeded") == 2.0
    assert delay("completed") == (T0 + 100) - (T0 + 99.8)  # told minus raised
    assert delay("recovered") == 0.0 and delay("recovered", "count") == 1


async def test_the_watcher_tells_a_stall_as_late_as_its_wall_clock_fired_it(start: Start) -> None:
    source, clock = FakeSource([P0]), Clock(T0)
    watcher, findings = await start(source, clock)
    source.append(P0, cloud_event("SchemaV2_Ready", "r1", "r1-1", at=T0, **SCHEMA))
    await watcher.step()
    clock.now = T0 + 7  # due at T0 + 2 (within: 2s): five seconds late
    await watcher.step()
    registry = watcher.metrics.registry
    (stall,) = findings.items
    labels = {"kind": "stall"}
    assert registry.get_sample_value("sentinel_finding_delay_seconds_sum", labels) == 5.0
    bucket = {"kind": "stall", "le": "5.0"}
    assert registry.get_sample_value("sentinel_finding_delay_seconds_bucket", bucket) == 1
    (counted,) = exemplars(registry, "sentinel_findings_total", kind="stall")
    assert counted.exemplar is not None
    assert counted.exemplar.labels == {"trace_id": stall["trace_id"], "span_id": stall["span_id"]}


async def test_exemplars_name_the_trace_the_findings_name(start: Start) -> None:
    source, clock = FakeSource([P0]), Clock(T0 + 10)
    watcher, findings = await start(source, clock)
    steps = (("SchemaV2_Ready", SCHEMA), ("UserServiceV2_Running", SERVICE))
    steps += (("MessagingService_Reconfigured", MESSAGING),)
    for number, (step, data) in enumerate(steps):
        source.append(P0, cloud_event(step, "r1", f"r1-{number}", at=T0 + number, **data))
    await watcher.step()
    (completed,) = findings.items
    trace = completed["trace_id"]
    assert trace == trace_id_of("fast-user-service", "r1", T0)
    registry = watcher.metrics.registry
    waits = exemplars(registry, "sentinel_step_wait_seconds_bucket")
    assert {sample.labels["step"] for sample in waits} == {step for step, _ in steps}
    for sample in waits:
        assert sample.exemplar is not None
        assert sample.exemplar.labels == {
            "trace_id": trace,
            "span_id": step_span_id(trace, sample.labels["step"]),
        }
    (duration,) = exemplars(registry, "sentinel_rollout_duration_seconds_bucket")
    assert duration.exemplar is not None
    assert duration.exemplar.labels == {"trace_id": trace, "span_id": root_span_id(trace)}
    (counted,) = exemplars(registry, "sentinel_findings_total", kind="completed")
    assert counted.exemplar is not None
    assert counted.exemplar.labels == {"trace_id": trace, "span_id": completed["span_id"]}
