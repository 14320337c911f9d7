"""Every shipped alerting rule, evaluated by a real Prometheus scraping a real `sentinel run`
(contract section 8): quiet on a healthy sentinel, true under the fault it names.

promtool's unit tests (test_prometheus_rules.py) feed hand-written series, so they cannot see
a rule that reads a metric the sentinel never sets, or one that reads 0 without a feature.
Here Debian's `prometheus` scrapes and evaluates every second (tests/deploy/live_prometheus.py):
each rule must evaluate cleanly (`health` ok, no `lastError`), a healthy sentinel must leave
every alert inactive for ten evaluations, and each fault must make its alert's expression true
(the alert pending, or firing when it has no `for:`) within seconds. The `for:` durations
themselves are promtool's business. Every metric the rules and the dashboard name must be on
the running sentinel's /metrics, unless only a feature (the registry) brings it. Every alert
of the rules file is named by a test here, or in NOT_LIVE with the reason it cannot be.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from registry.fake_registry import FakeRegistry
from runtime.watcher_support import (
    FAST_EXPECTATION,
    MESSAGING,
    SCHEMA,
    SERVICE,
    Process,
    cloud_event,
    make_config,
)

from sentinel.kafka.broker import EmbeddedBroker
from sentinel.runtime.metrics import FEATURE_METRICS

from .live_prometheus import LivePrometheus, free_port
from .promql import exported_metric_names, unknown_metric_names
from .tools import RULES

pytestmark = pytest.mark.broker

FEATURE_ONLY = frozenset().union(*FEATURE_METRICS.values())
# Alerts no fault here can bring about, and why (each one a defect to mend, not a habit).
NOT_LIVE: dict[str, str] = {}
# The fast expectation again, with a deadline of a second for the whole rollout.
DEADLINE_EXPECTATION = FAST_EXPECTATION.replace(
    "name: fast-user-service", "name: deadline-user-service"
).replace("spec:\n", "spec:\n  deadline: 1s\n")
STEPS = (
    ("SchemaV2_Ready", SCHEMA),
    ("UserServiceV2_Running", SERVICE),
    ("MessagingService_Reconfigured", MESSAGING),
)


class Sentinel:
    """`sentinel run` in a subprocess, serving its metrics on a port of its own."""

    def __init__(
        self,
        directory: Path,
        broker: EmbeddedBroker,
        topic: str,
        processes: list[Process],
        **config: Any,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.port = free_port()
        make_config(directory, broker, topic, http=f"  listen: {self.target}\n", **config)
        self.process = Process(directory / "config.yaml", directory, "sentinel")
        processes.append(self.process)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://{self.target}{path}", timeout=5) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read().decode()

    def metrics(self) -> str:
        status, text = self.get("/metrics")
        assert status == 200
        return text

    async def wait_ready(self, timeout_s: float = 30) -> None:
        """Until /readyz answers 200 (partitions assigned, caught up)."""
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.process.popen.poll() is None, "the sentinel exited; its log is below"
            try:
                if (await asyncio.to_thread(self.get, "/readyz"))[0] == 200:
                    return
            except OSError:
                pass  # not serving yet
            assert time.monotonic() < deadline, f"waited {timeout_s}s for /readyz 200"
            await asyncio.sleep(0.1)

    def signal(self, signum: int) -> None:
        self.process.popen.send_signal(signum)


def registry_section(url: str, timeout: str = "300ms") -> str:
    return (
        f"registry:\n  url: {url}\n  timeout: {timeout}\n  retries: 0\n"
        "  backoff: 20ms\n  backoff_max: 100ms\n"
    )


def active(alerts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((alert["labels"]["alertname"], alert["state"]) for alert in alerts)


async def keep_rolling(produce: Any, topic: str) -> None:
    """A rollout that completes every half second, until cancelled."""
    for number in itertools.count():
        rollout = f"healthy-{number}"
        for step, data in STEPS:
            event = cloud_event(step, rollout, f"{rollout}-{step}", **data)
            await produce(topic, event, key=rollout.encode())
        await asyncio.sleep(0.5)


async def test_a_healthy_sentinel_leaves_every_rule_quiet_and_exports_every_metric_they_name(
    broker: EmbeddedBroker,
    topic_factory: Any,
    produce: Any,
    tmp_path: Path,
    processes: list[Process],
) -> None:
    topic = await topic_factory()
    sentinel = Sentinel(tmp_path, broker, topic, processes)
    async with LivePrometheus(tmp_path, [sentinel.target]) as prometheus:
        await sentinel.wait_ready()
        rolling = asyncio.create_task(keep_rolling(produce, topic))
        try:
            await prometheus.wait_query(f'sentinel_ready{{instance="{sentinel.target}"}} == 1')
            # What a sentinel starting up raises (its loop not yet running) resolves first.
            await prometheus.wait_quiet()
            seen = await prometheus.quiet(cycles=10)
        finally:
            rolling.cancel()
            await asyncio.gather(rolling, return_exceptions=True)
        assert active(seen) == [], "a healthy sentinel must leave every alert inactive"
        assert await prometheus.rule_problems() == []
        exposition = await asyncio.to_thread(sentinel.metrics)
    kinds = sentinel.process.kinds()
    assert kinds.count("completed") >= 5 and set(kinds) == {"completed"}, kinds
    assert unknown_metric_names(exposition, optional=FEATURE_ONLY) == {}
    assert exported_metric_names(exposition).isdisjoint(FEATURE_ONLY), "without `registry:`"


@pytest.fixture
async def private_broker(tmp_path: Path) -> AsyncIterator[EmbeddedBroker]:
    """A broker of the test's own, to freeze (set up before `processes`: stopped after them)."""
    async with EmbeddedBroker(log_path=tmp_path / "tansu.log") as running:
        yield running


async def test_a_frozen_broker_makes_kafka_unreachable_and_holds_the_deadlines(
    private_broker: EmbeddedBroker, tmp_path: Path, processes: list[Process]
) -> None:
    await private_broker.create_topics(["frozen"])
    sentinel = Sentinel(
        tmp_path, private_broker, "frozen", processes, kafka_extra="  unreachable_after: 2s\n"
    )
    async with LivePrometheus(tmp_path, [sentinel.target]) as prometheus:
        await sentinel.wait_ready()
        await prometheus.wait_query(
            f'sentinel_kafka_reachable{{instance="{sentinel.target}"}} == 1'
        )
        assert private_broker._process is not None
        pid = private_broker._process.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            for name in ("SentinelKafkaFetchStalled", "SentinelDeadlinesHeld", "SentinelNotReady"):
                await prometheus.wait_alert(name, instance=sentinel.target)
            status, body = await asyncio.to_thread(sentinel.get, "/readyz")
            assert status == 503 and json.loads(body)["kafka"]["reachable"] is False, body
        finally:
            os.kill(pid, signal.SIGCONT)
        assert await prometheus.rule_problems() == []


def framed(schema_id: int, event_type: str, rollout: str, **data: str) -> dict[str, Any]:
    """A binary-mode CloudEvent whose data is framed with a registry schema id."""
    body = json.dumps({"rollout_id": rollout, **data}).encode()
    return {
        "value": b"\x00" + schema_id.to_bytes(4, "big") + body,
        "key": rollout.encode(),
        "headers": [
            ("ce_specversion", b"1.0"),
            ("ce_id", f"{rollout}-{event_type}-{schema_id}".encode()),
            ("ce_type", event_type.encode()),
            ("ce_source", b"/tests"),
            ("ce_time", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()).encode()),
            ("content-type", b"application/json"),
        ],
    }


async def test_a_schema_change_and_a_registry_that_stops_answering(
    broker: EmbeddedBroker,
    topic_factory: Any,
    produce: Any,
    tmp_path: Path,
    processes: list[Process],
) -> None:
    topic = await topic_factory()
    with FakeRegistry() as registry:
        first = registry.register("SchemaV2_Ready", {"type": "object"})
        second = registry.register("SchemaV2_Ready", {"type": "object", "title": "v2"})
        sentinel = Sentinel(
            tmp_path, broker, topic, processes, extra=registry_section(registry.url)
        )
        async with LivePrometheus(tmp_path, [sentinel.target]) as prometheus:
            await sentinel.wait_ready()
            await prometheus.wait_query(
                f'sentinel_registry_up{{instance="{sentinel.target}"}} == 1'
            )
            # With the feature, every name of the rules and the dashboard is there.
            assert unknown_metric_names(await asyncio.to_thread(sentinel.metrics)) == {}
            # A producer switches SchemaV2_Ready to another schema.
            await produce(topic, **framed(first, "SchemaV2_Ready", "g1", **SCHEMA))
            await produce(topic, **framed(second, "SchemaV2_Ready", "g2", **SCHEMA))
            await prometheus.wait_alert("SentinelSchemaChanged")
            assert "SentinelRegistryDown" not in dict(active(await prometheus.quiet(cycles=2)))
            registry.stop()
            # A schema id the sentinel has not read: it must ask the registry.
            await produce(topic, **framed(999, "SchemaV2_Ready", "ghost", **SCHEMA))
            for name in ("SentinelRegistryDown", "SentinelNotReady"):
                await prometheus.wait_alert(name, instance=sentinel.target)
            assert await prometheus.rule_problems() == []


async def test_records_behind_a_partition_waiting_for_the_registry_are_lag_not_a_lost_bus(
    broker: EmbeddedBroker,
    topic_factory: Any,
    produce: Any,
    tmp_path: Path,
    processes: list[Process],
) -> None:
    topic = await topic_factory()
    with FakeRegistry() as registry:
        known = registry.register("SchemaV2_Ready", {"type": "object"})
        sentinel = Sentinel(
            tmp_path,
            broker,
            topic,
            processes,
            kafka_extra="  unreachable_after: 2s\n",
            extra=registry_section(registry.url),
        )
        async with LivePrometheus(tmp_path, [sentinel.target]) as prometheus:
            await sentinel.wait_ready()
            await produce(topic, **framed(known, "SchemaV2_Ready", "g1", **SCHEMA))
            registry.stop()
            await produce(topic, **framed(999, "SchemaV2_Ready", "ghost", **SCHEMA))
            await prometheus.wait_alert("SentinelRegistryDown", instance=sentinel.target)
            # The broker answers all along: what waits is the registry.
            seen = await prometheus.quiet(cycles=5)
            assert "SentinelKafkaFetchStalled" not in dict(active(seen))
            for number in range(1100):
                await produce(topic, **framed(known, "SchemaV2_Ready", f"w{number}", **SCHEMA))
            await prometheus.wait_alert("SentinelConsumerLagGrowing", topic=topic)


async def test_a_loop_stuck_starting_and_a_sentinel_that_cannot_be_scraped(
    broker: EmbeddedBroker, topic_factory: Any, tmp_path: Path, processes: list[Process]
) -> None:
    with FakeRegistry() as registry:
        registry.delay = 60  # the start waits for the registry's first answer
        stuck = Sentinel(
            tmp_path / "stuck",
            broker,
            await topic_factory(),
            processes,
            extra=registry_section(registry.url, timeout="60s"),
        )
        frozen = Sentinel(tmp_path / "frozen", broker, await topic_factory(), processes)
        async with LivePrometheus(tmp_path, [stuck.target, frozen.target]) as prometheus:
            await frozen.wait_ready()
            # The stuck one answers scrapes: its loop is what does not run.
            await prometheus.wait_query(f'sentinel_up{{instance="{stuck.target}"}} == 0')
            await prometheus.wait_query(f'sentinel_up{{instance="{frozen.target}"}} == 1')
            frozen.signal(signal.SIGSTOP)
            try:
                await prometheus.wait_alert("SentinelLoopStopped", instance=stuck.target)
                await prometheus.wait_alert("SentinelDown", instance=frozen.target)
            finally:
                frozen.signal(signal.SIGCONT)
            assert await prometheus.rule_problems() == []


async def test_no_sentinel_target_at_all_is_absent(tmp_path: Path) -> None:
    async with LivePrometheus(tmp_path, []) as prometheus:
        await prometheus.wait_alert("SentinelAbsent")
        assert await prometheus.rule_problems() == []


async def test_a_silent_bus(
    broker: EmbeddedBroker, topic_factory: Any, tmp_path: Path, processes: list[Process]
) -> None:
    topic = await topic_factory()
    sentinel = Sentinel(tmp_path, broker, topic, processes, bus_silence="1s")
    async with LivePrometheus(tmp_path, [sentinel.target]) as prometheus:
        await sentinel.wait_ready()
        await prometheus.wait_alert("SentinelBusSilent", instance=sentinel.target)
        assert await prometheus.rule_problems() == []
    assert "bus_silent" in sentinel.process.kinds()


class _Hook(BaseHTTPRequestHandler):
    """A webhook that fails: `/gone` answers 404 (a permanent error), anything else 500."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(404 if self.path == "/gone" else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def failing_hooks() -> Iterator[str]:
    """The base URL of a webhook server whose every answer is an error."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


async def test_stalls_bad_records_a_refused_reload_and_failing_sinks(
    broker: EmbeddedBroker,
    topic_factory: Any,
    produce: Any,
    tmp_path: Path,
    processes: list[Process],
    failing_hooks: str,
) -> None:
    topic = await topic_factory()
    (tmp_path / "expectations").mkdir()
    (tmp_path / "expectations" / "deadline.yaml").write_text(DEADLINE_EXPECTATION)
    alerting = (
        "alerting:\n  webhooks:\n"
        f"    - url: {failing_hooks}/flaky\n      name: flaky\n"
        f"    - url: {failing_hooks}/gone\n      name: gone\n"
    )
    sentinel = Sentinel(
        tmp_path, broker, topic, processes, window="1s", reload_poll="0.5s", extra=alerting
    )
    async with LivePrometheus(tmp_path, [sentinel.target]) as prometheus:
        await sentinel.wait_ready()
        # Ready, with no step of it after: the next one stalls a second later.
        await produce(topic, cloud_event("SchemaV2_Ready", "r1", "r1-ready", **SCHEMA), key=b"r1")
        await produce(topic, b"not an event", key=b"x")
        missing = cloud_event("SchemaV2_Ready", "r2", "r2-ready", schema_version="2")
        await produce(topic, missing, key=b"r2")  # no migration_id: breaks its schema
        (tmp_path / "expectations" / "broken.yaml").write_text("kind: Expectation\n")
        expected = {
            "SentinelRolloutStalled": {"kind": "stall", "expectation": "fast-user-service"},
            "SentinelRolloutDeadlineExceeded": {"expectation": "deadline-user-service"},
            "SentinelMalformedEvents": {"outcome": "malformed"},
            "SentinelSchemaViolations": {"outcome": "invalid", "type": "SchemaV2_Ready"},
            "SentinelConfigReloadFailing": {"outcome": "failure"},
            "SentinelAlertSinkFailing": {"sink": "gone"},
            "SentinelAlertDeliveryFailing": {"sink": "gone", "outcome": "failed"},
            "SentinelAlertOutboxBacklog": {"sink": "flaky"},
        }
        for name, labels in expected.items():
            await prometheus.wait_alert(name, **labels)
        assert await prometheus.rule_problems() == []


def test_every_shipped_alert_is_brought_about_by_a_fault_in_this_module() -> None:
    named = set(re.findall(r'"(Sentinel[A-Za-z]+)"', Path(__file__).read_text()))
    alerts = {
        rule["alert"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert NOT_LIVE.keys() <= alerts
    assert alerts - named == set(), "alerts that no test here makes pending or firing"
