"""Every Prometheus metric the sentinel exports, on an injected registry (contract section 8).

Dashboards and alerting rules in `alerting/` depend on these names; tests check that they do
not drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from sentinel import __version__
from sentinel.runtime.exemplars import span_labels
from sentinel.runtime.histograms import PlainHistogram

# Step waits and rollout durations span seconds to days.
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)
SKEW_BUCKETS = (-60, -10, -1, -0.1, 0, 0.1, 1, 10, 60, 300)
DELIVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
# From a finding becoming true to its batch being kept: a batch's own time (well under a
# second) up to deadlines held for minutes behind a lagging partition or a silent bus.
FINDING_DELAY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
OTHER_TYPE = "_other"
# Metrics that only a feature of the config creates, absent without it (a gauge that read 0
# without a registry would say "the registry is down" of a sentinel that has none).
FEATURE_METRICS: Mapping[str, frozenset[str]] = {"registry": frozenset({"sentinel_registry_up"})}


class Metrics:
    """The sentinel's metric families, created once per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        # Contract section 8.
        self.events = Counter(
            "sentinel_events",
            "Events read, by event type and outcome.",
            ["type", "outcome"],
            registry=registry,
        )
        self.findings = Counter(
            "sentinel_findings",
            "Findings raised, by kind and expectation.",
            ["kind", "expectation"],
            registry=registry,
        )
        self.rollouts_open = Gauge(
            "sentinel_rollouts_open",
            "Rollouts opened and not yet closed.",
            ["expectation"],
            registry=registry,
        )
        # Observed for most events: plain numbers, exported when scraped. Their exemplars
        # name the rollout's trace (contract section 13), its ids computed when scraped.
        self.rollout_duration = PlainHistogram(
            "sentinel_rollout_duration_seconds",
            "From a rollout's opening to its last step (completed) or rollback (rolled_back).",
            ["expectation", "outcome"],
            DURATION_BUCKETS,
            registry,
            span_labels,
        )
        self.step_wait = PlainHistogram(
            "sentinel_step_wait_seconds",
            "From the start of a step's window (its last prerequisite) to the step being seen.",
            ["expectation", "step"],
            DURATION_BUCKETS,
            registry,
            span_labels,
        )
        self.consumer_lag = Gauge(
            "sentinel_consumer_lag_records",
            "Records between the consumer's position and the partition's high watermark.",
            ["topic", "partition"],
            registry=registry,
        )
        self.last_event = Gauge(
            "sentinel_last_event_timestamp_seconds",
            "Wall-clock time at which the last record was read from the bus.",
            registry=registry,
        )
        self.alerts_sent = Counter(
            "sentinel_alerts_sent",
            "Alert deliveries, by sink and outcome (sent, retried, failed, dropped_permanent).",
            ["sink", "outcome"],
            registry=registry,
        )
        # sentinel_registry_up: only with a registry (`schema_registry_up`).
        self._registry_up: Gauge | None = None
        # The sentinel's own health.
        self.build_info = Info(
            "sentinel_build", "Version of the running sentinel.", registry=registry
        )
        self.build_info.info({"version": __version__})
        self.up = Gauge(
            "sentinel_up",
            "1 while the watcher loop runs; 0 while it starts or stops.",
            registry=registry,
        )
        self.ready = Gauge(
            "sentinel_ready",
            "1 once the consumer has its partitions and has caught up (the /readyz answer).",
            registry=registry,
        )
        self.expectations_loaded = Gauge(
            "sentinel_expectations_loaded",
            "Expectations in the running set.",
            registry=registry,
        )
        self.expectation_info = Gauge(
            "sentinel_expectation_info",
            "1 per loaded expectation, with its owner: join on `expectation` to route by owner.",
            ["expectation", "owner"],
            registry=registry,
        )
        self.step_window = Gauge(
            "sentinel_step_window_seconds",
            "Each step's window (`within`), to draw step waits against their windows.",
            ["expectation", "step"],
            registry=registry,
        )
        self.schemas_loaded = Gauge(
            "sentinel_schemas_loaded",
            "Event schemas in the running set.",
            registry=registry,
        )
        self.config_loaded = Gauge(
            "sentinel_config_loaded_timestamp_seconds",
            "When the running expectations and schemas were loaded.",
            registry=registry,
        )
        self.config_reloads = Counter(
            "sentinel_config_reloads",
            "Reloads of expectations and schemas, by outcome (success, failure).",
            ["outcome"],
            registry=registry,
        )
        self.event_clock_skew = PlainHistogram(
            "sentinel_event_clock_skew_seconds",
            "Broker timestamp minus the event's own time: producers with skewed clocks show up.",
            (),
            SKEW_BUCKETS,
            registry,
        )
        self.bus_silent = Gauge(
            "sentinel_bus_silent",
            "1 while no record has arrived for longer than the configured silence.",
            registry=registry,
        )
        self.deadlines_held = Gauge(
            "sentinel_deadlines_held",
            "1 while deadlines are held: a partition behind, the registry awaited, or the bus"
            " unreachable.",
            registry=registry,
        )
        self.last_fetch = Gauge(
            "sentinel_last_fetch_timestamp_seconds",
            "Wall-clock time of the last answer from the Kafka broker, records or not.",
            registry=registry,
        )
        self.capacity_refused = Counter(
            "sentinel_capacity_refused",
            "What a bound of limits: refused: a rollout not opened, an unknown type not"
            " remembered.",
            ["bound", "expectation"],
            registry=registry,
        )
        self.trace_context = Counter(
            "sentinel_trace_context",
            "Trace context read from events, by where it was (cloudevents: the CloudEvents"
            " extension; w3c: the traceparent record header) and whether it was valid.",
            ["source", "outcome"],
            registry=registry,
        )
        self.finding_delay = PlainHistogram(
            "sentinel_finding_delay_seconds",
            "From a finding becoming true (a stall's or a deadline's due time, else the time it"
            " was raised) to its batch being kept, when it is told.",
            ["kind"],
            FINDING_DELAY_BUCKETS,
            registry,
        )
        self.kafka_reachable = Gauge(
            "sentinel_kafka_reachable",
            "0 once no broker has answered for kafka.unreachable_after; 1 otherwise.",
            registry=registry,
        )
        self.pending_deadlines = Gauge(
            "sentinel_pending_deadlines",
            "Step and rollout deadlines waiting to fire.",
            registry=registry,
        )
        # Alert delivery.
        self.outbox_depth = Gauge(
            "sentinel_alert_outbox_depth",
            "Alerts written to the outbox and not yet delivered.",
            ["sink"],
            registry=registry,
        )
        self.alert_delivery = Histogram(
            "sentinel_alert_delivery_seconds",
            "From an alert entering the outbox to its delivery.",
            ["sink"],
            buckets=DELIVERY_BUCKETS,
            registry=registry,
        )
        self.sink_failing = Gauge(
            "sentinel_alert_sink_failing",
            "1 while a sink has a permanent error (bad token, unknown channel).",
            ["sink"],
            registry=registry,
        )
        # State store. A store that cannot be written stops the sentinel (SentinelDown says so).
        self.store_commit = Histogram(
            "sentinel_store_commit_seconds",
            "Time to write one batch of state changes and alerts.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
            registry=registry,
        )

    def schema_registry_up(self) -> Gauge:
        """`sentinel_registry_up`, registered by the first call: the registry gate's first
        answer or failure, so a sentinel without `registry:` never exposes it."""
        if self._registry_up is None:
            self._registry_up = Gauge(
                "sentinel_registry_up",
                "1 when the last request to the schema registry succeeded (only with `registry`).",
                registry=self.registry,
            )
        return self._registry_up
