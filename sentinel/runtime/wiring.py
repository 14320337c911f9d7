"""Builds the watcher from the config: rules, engine, store, alerting, pipeline, source, HTTP.

The one place that knows which implementation each part gets; everything it builds is
driven by the watcher through protocols.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from sentinel.alerting.alerter import Alerter
from sentinel.alerting.reminders import open_stalls, snoozes
from sentinel.alerting.settings import AlertingSettings
from sentinel.alerting.sinks.otlp_protobuf import resource_of
from sentinel.alerting.sinks.slack import SlackSettings
from sentinel.alerting.span_export import SpanExport
from sentinel.config import Config, load_config
from sentinel.core.engine.engine import Engine
from sentinel.core.engine.watermarks import Watermarks
from sentinel.core.errors import BusUnreachable
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.pipeline.pipeline import Decoder, Pipeline, Route
from sentinel.core.ports.store import StateStore
from sentinel.kafka.options import client_kwargs, topic_partitions
from sentinel.kafka.repartition import CopyDecoder, Repartitioner, route
from sentinel.kafka.source import KafkaSource
from sentinel.registry.cache import SchemaCache
from sentinel.registry.lookup import RegistryWriters
from sentinel.runtime.finding_lines import FindingLines, LineSink
from sentinel.runtime.logs import configure_logging
from sentinel.runtime.metrics import Metrics
from sentinel.runtime.metrics_observer import MetricsObserver, PipelineObservers
from sentinel.runtime.registry_gate import NoGate, RegistryGate
from sentinel.runtime.rule_reload import Rules, RuleSet, load_rules
from sentinel.runtime.watcher import (
    HeldDeliveries,
    NoUpstream,
    Upstream,
    Watcher,
    WatcherParts,
)
from sentinel.store.changelog import ChangelogStore
from sentinel.store.memory import MemoryStore
from sentinel.store.sqlite import SqliteStore
from sentinel.web.api import mount
from sentinel.web.cluster import Cluster
from sentinel.web.feed import LiveFeed
from sentinel.web.http import HttpServer
from sentinel.web.local import Replica
from sentinel.web.peers import Peers
from sentinel.web.slack_actions import mount_slack_actions

log = logging.getLogger("sentinel.wiring")

EXIT_UNREACHABLE = 1


def run_from_config(path: Path) -> int:
    """The `sentinel run --config FILE` command: exit 0 after a clean stop, 1 when Kafka
    cannot be reached; a SentinelError (a bad file) goes to the command line's one message."""
    config = load_config(path)
    configure_logging(config.log.level)
    for warning in config.warnings:
        log.warning(warning)
    watcher = build_watcher(config)
    try:
        return asyncio.run(watcher.run())
    except BusUnreachable as error:  # the repartition stage's start: its topic is needed first
        print(f"sentinel: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE


def build_watcher(
    config: Config,
    *,
    out: LineSink | None = None,
    registry: CollectorRegistry | None = None,
    rules_loader: Callable[[], Rules] | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> Watcher:
    """Every part of `sentinel run`, from the config (`rules_loader`: the demo's faster rules)."""
    load = rules_loader or (lambda: load_rules(config.expectations, config.schemas))
    rules = load()
    metrics = Metrics(registry if registry is not None else CollectorRegistry())
    observer = MetricsObserver(metrics, rules.known_types, wall_clock)
    engine = Engine(
        rules.expectations,
        rules.schemas,
        observer,
        retention_s=config.engine.closed_retention,
        limits=config.limits,
        tracing=config.tracing.options,
    )
    ruleset = RuleSet(rules, load, (config.expectations, config.schemas), config.watch.reload_poll)
    upstream, decoder, copy_route, topics = _input(config, engine)
    store = open_store(config, topics, on_commit=metrics.store_commit.observe)
    alerter = None
    if config.alerting is not None:
        stalls = functools.partial(open_stalls, engine)  # what `renotify_after` tells again
        snoozed = functools.partial(snoozes, engine)  # whose end the threads tell
        alerter = Alerter(config.alerting, store.outbox(), observer, stalls=stalls, snoozes=snoozed)
    spans = _span_export(config, store, observer)
    feed = LiveFeed(engine)
    observers = PipelineObservers(observer, feed)
    pipeline = Pipeline(engine, store, decoder, alerter, observers, route=copy_route)
    pipeline.spans = spans
    # Input not keyed by rollout: any partition may carry any rollout's next event.
    keyed = config.state.mode == "changelog" or config.kafka.input_keyed_by_rollout
    pipeline.watermarks = Watermarks(shared=not keyed)
    pipeline.on_error = _log_failure
    # Written inside each batch's transaction, so that a crash can repeat a line, never lose
    # one (docs/operations.md, "What happens when").
    pipeline.output = FindingLines(out if out is not None else sys.stdout)
    gate: RegistryGate | NoGate = NoGate()
    if config.registry is not None:
        writers = RegistryWriters(SchemaCache(config.registry), rules.known_types)
        pipeline.writers = writers
        gate = RegistryGate(writers, metrics)
    http = HttpServer(config.http.host, config.http.port, metrics.registry)
    peers = Peers(
        config.http.peers, lambda: http.port, config.http.peer_timeout, config.http.basic_auth
    )
    replica = Replica(engine, store, feed, wall_clock)
    cluster = Cluster(replica, peers)
    mount(http.app, cluster, feed, config.http.basic_auth, config.http)
    secret = _slack_signing_secret(config.alerting)
    if secret is not None:  # the Slack app's interactivity URL: its buttons' clicks
        mount_slack_actions(http.app, cluster, config.http, secret, wall_clock)
    senders = [sender for sender in (alerter, spans) if sender is not None]
    watcher = Watcher(
        WatcherParts(
            settings=config.watch,
            pipeline=pipeline,
            source=KafkaSource(dataclasses.replace(config.kafka, topics=topics)),
            rules=ruleset,
            metrics=metrics,
            observer=observer,
            http=http,
            upstream=upstream,
            registry=gate,
            background=tuple(sender.run_sender for sender in senders),
            deliveries=HeldTogether(senders),
            details={
                **({} if alerter is None else {"alerting": alerter.status}),
                **({} if spans is None else {"tracing": spans.status}),
            },
            wall_clock=wall_clock,
        )
    )
    http.health, http.ready = watcher.health, watcher.readiness
    replica.actor = watcher.act  # on-call actions go into the loop's next batch
    ruleset.on_reload = lambda new: _reloaded(new, pipeline, observer, metrics)
    ruleset.on_refused = lambda problems: _refused(problems, metrics)
    _note_rules(rules, metrics, wall_clock())
    return watcher


def _slack_signing_secret(alerting: AlertingSettings | None) -> str | None:
    """The Slack bot's signing secret (`alerting.slack.signing_secret_env`), if it has one."""
    sinks = alerting.sinks if alerting is not None else ()
    return next((s.signing_secret for s in sinks if isinstance(s, SlackSettings)), None)


def _span_export(config: Config, store: StateStore, observer: MetricsObserver) -> SpanExport | None:
    """With `tracing.otlp`: spans through the store's outbox (with or without `alerting:`),
    retried as the alerts are."""
    otlp = config.tracing.otlp
    if otlp is None:
        return None
    retry = config.alerting or AlertingSettings()  # its `retry:` times, or their defaults
    resource = resource_of(otlp.resource, os.environ)
    return SpanExport(
        otlp, store.outbox(), resource, observer,
        retry_initial=retry.retry_initial, retry_max=retry.retry_max,
    )  # fmt: skip


class HeldTogether:
    """The senders (alerts, spans), held and released as one by the watcher."""

    def __init__(self, senders: Sequence[HeldDeliveries]) -> None:
        self._senders = tuple(senders)

    def hold(self) -> None:
        for sender in self._senders:
            sender.hold()

    def release(self) -> None:
        for sender in self._senders:
            sender.release()


def _input(
    config: Config, engine: Engine
) -> tuple[Upstream, Decoder, Route | None, tuple[str, ...]]:
    """Where the engine's records come from: the input topics, or (several replicas with input
    not keyed by rollout) the repartition topic that a stage of its own fills from them."""
    kafka = config.kafka
    framed = config.registry is not None
    if config.state.mode != "changelog" or kafka.input_keyed_by_rollout:
        return NoUpstream(), BusDecoder(framed), None, kafka.topics
    target = f"{kafka.group_id}-repartition"
    watch = config.watch
    stage = Repartitioner(
        kafka, target, lambda: tuple(engine.expectations.values()),
        watch.tick, watch.max_batch, watch.lag_threshold,
    )  # fmt: skip
    return stage, CopyDecoder(framed), route, (target,)


def open_store(
    config: Config, topics: Sequence[str], on_commit: Callable[[float], None] | None = None
) -> StateStore:
    """SQLite at `state.path`, else memory (state lost on restart: fine for trying things);
    in changelog mode, SQLite as the local snapshot of a changelog per topic in `topics`."""
    settings = config.state
    if settings.mode == "changelog":
        # Without a volume, a replica restores its partitions from the changelog in full.
        path = settings.path or Path(tempfile.mkdtemp(prefix="sentinel-state-")) / "state.db"
        kafka = config.kafka

        def partitions() -> Awaitable[dict[str, int]]:
            if topics != kafka.topics:  # the repartition topic, which the stage creates
                return _known({topic: kafka.repartition_partitions for topic in topics})
            return topic_partitions(kafka, topics)

        return ChangelogStore(
            SqliteStore(path, config.history.retention, on_commit),
            kafka.group_id,
            client_kwargs(kafka),
            kafka.replication_factor,
            partitions,
        )
    if settings.path is None:
        return MemoryStore(config.history.retention)
    return SqliteStore(settings.path, config.history.retention, on_commit)


async def _known(counts: dict[str, int]) -> dict[str, int]:
    return counts


def _log_failure(what: str, error: Exception) -> None:
    log.error("unexpected error on %s; reported and read past", what, exc_info=error)


def _reloaded(
    rules: Rules, pipeline: Pipeline, observer: MetricsObserver, metrics: Metrics
) -> None:
    engine = pipeline.engine
    engine.reload(rules.expectations, rules.schemas)
    if isinstance(pipeline.writers, RegistryWriters):
        pipeline.writers.known_types = rules.known_types
    observer.known_types = rules.known_types
    observer.recount(engine)
    metrics.config_reloads.labels("success").inc()
    _note_rules(rules, metrics, time.time())
    log.info("reloaded", extra={"expectations": len(rules.expectations)})


def _refused(problems: Sequence[str], metrics: Metrics) -> None:
    metrics.config_reloads.labels("failure").inc()
    log.error(
        "reload refused; the previous expectations and schemas keep running",
        extra={"problems": list(problems)},
    )


def _note_rules(rules: Rules, metrics: Metrics, now: float) -> None:
    metrics.expectations_loaded.set(len(rules.expectations))
    metrics.expectation_info.clear()
    metrics.step_window.clear()
    for exp in rules.expectations:
        metrics.expectation_info.labels(exp.name, exp.owner or "").set(1)
        for step in exp.steps:
            if step.within is not None:
                metrics.step_window.labels(exp.name, step.event).set(step.within)
    metrics.schemas_loaded.set(len(rules.schemas))
    metrics.config_loaded.set(now)
    for warning in rules.warnings:
        log.warning(warning)
