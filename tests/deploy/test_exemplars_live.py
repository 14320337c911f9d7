"""Exemplars end to end (contract section 13, "Metrics"): a real Prometheus with exemplar
storage scrapes a real `sentinel run`, asks it for OpenMetrics, and stores the exemplars that
name a rollout's trace on the findings counter, the step waits and the rollout duration; a
Grafana panel with `"exemplar": true` reads these very ones (`/api/v1/query_exemplars`)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from runtime.watcher_support import Process, cloud_event

from sentinel.core.engine.tracing import root_span_id, step_span_id
from sentinel.kafka.broker import EmbeddedBroker

from .live_prometheus import INTERVAL_S, LivePrometheus
from .test_rules_live import STEPS, Sentinel

pytestmark = pytest.mark.broker


async def wait_exemplars(
    prometheus: LivePrometheus, expr: str, trace_id: str, timeout_s: float = 20
) -> list[dict[str, Any]]:
    """The exemplars of `expr`'s series that name `trace_id`, once there is one."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [
            {**exemplar, "series": series["seriesLabels"]}
            for series in await asyncio.to_thread(prometheus.exemplars, expr)
            for exemplar in series["exemplars"]
            if exemplar["labels"].get("trace_id") == trace_id
        ]
        if found:
            return found
        assert time.monotonic() < deadline, f"no exemplar of trace {trace_id} on {expr}"
        await asyncio.sleep(INTERVAL_S / 4)


async def test_prometheus_stores_the_exemplars_that_name_a_rollouts_trace(
    broker: EmbeddedBroker,
    topic_factory: Any,
    produce: Any,
    tmp_path: Path,
    processes: list[Process],
) -> None:
    topic = await topic_factory()
    sentinel = Sentinel(tmp_path, broker, topic, processes)
    features = ["exemplar-storage"]
    async with LivePrometheus(tmp_path, [sentinel.target], features=features) as prometheus:
        await sentinel.wait_ready()
        for step, data in STEPS:
            event = cloud_event(step, "traced", f"traced-{step}", **data)
            await produce(topic, event, key=b"traced")
        # The completed finding names the rollout's trace and its own span.
        deadline = time.monotonic() + 20
        while "completed" not in sentinel.process.kinds():
            assert time.monotonic() < deadline, sentinel.process.kinds()
            await asyncio.sleep(0.1)
        (completed,) = sentinel.process.findings()
        trace = completed["trace_id"]
        instance = f'instance="{sentinel.target}"'

        (counted,) = await wait_exemplars(
            prometheus, f'sentinel_findings_total{{{instance}, kind="completed"}}', trace
        )
        assert counted["labels"] == {"trace_id": trace, "span_id": completed["span_id"]}
        assert counted["series"]["expectation"] == "fast-user-service"
        assert float(counted["value"]) == 1

        durations = await wait_exemplars(
            prometheus, f"sentinel_rollout_duration_seconds_bucket{{{instance}}}", trace
        )
        assert {exemplar["labels"]["span_id"] for exemplar in durations} == {root_span_id(trace)}
        assert {exemplar["series"]["outcome"] for exemplar in durations} == {"completed"}

        waits = await wait_exemplars(
            prometheus, f"sentinel_step_wait_seconds_bucket{{{instance}}}", trace
        )
        for exemplar in waits:
            step = exemplar["series"]["step"]
            assert exemplar["labels"]["span_id"] == step_span_id(trace, step)

        # Scraped as OpenMetrics, every family still reaches Prometheus: the classic ones too.
        assert await prometheus.wait_query(f"sentinel_up{{{instance}}} == 1")
        assert await prometheus.wait_query(
            f'sentinel_event_clock_skew_seconds_bucket{{{instance}, le="+Inf"}} >= 1'
        )
        assert await prometheus.wait_query(
            f'sentinel_finding_delay_seconds_count{{{instance}, kind="completed"}} == 1'
        )
