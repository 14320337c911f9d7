"""The dashboard and the alerting rules name only metrics a running `sentinel run` exports."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from runtime.watcher_support import Findings, make_config, wait_for

from sentinel.app.wiring import build_watcher
from sentinel.kafka.broker import EmbeddedBroker

from .promql import unknown_metric_names

pytestmark = pytest.mark.broker


async def test_every_promql_metric_is_on_the_metrics_page_of_a_running_sentinel(
    broker: EmbeddedBroker, topic_factory: Any, tmp_path: Path
) -> None:
    topic = await topic_factory()
    config = make_config(tmp_path, broker, topic)
    watcher = build_watcher(config, out=Findings())
    task = asyncio.create_task(watcher.run(handle_signals=False))
    try:
        await wait_for(lambda: bool(watcher.source.assigned()), what="partitions assigned")
        url = f"http://127.0.0.1:{watcher.parts.http.port}/metrics"

        def fetch() -> str:
            with urllib.request.urlopen(url, timeout=5) as response:
                return str(response.read().decode())

        exposition = await asyncio.to_thread(fetch)
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 30)
    assert unknown_metric_names(exposition) == {}
