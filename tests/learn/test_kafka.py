"""`sentinel learn --config --since` on the embedded broker: only that far back, partitions
merged by time, and nothing left behind in the sentinel's consumer group.

Tansu answers `offsets_for_times` with the first offset whatever the time, so here the reader
starts at the beginning and its timestamp filter is what leaves the old records out.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from sentinel.commands.main import main
from sentinel.core.rules.loader import load_expectations
from sentinel.core.timefmt import format_rfc3339
from sentinel.kafka.broker import EmbeddedBroker

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[2]
DAY_MS = 86_400_000


async def test_learn_since_reads_only_that_far_back_and_commits_nothing(
    broker: EmbeddedBroker,
    topic_factory: Any,  # see tests/conftest.py
    produce: Any,
    tmp_path: Path,
) -> None:
    topic = await topic_factory(partitions=2)
    now_ms = int(time.time() * 1000)
    # Ten days ago, another kind of rollout: older than --since 7d, so never learned.
    for number in range(6):
        at_ms = now_ms - 10 * DAY_MS + number * 1000
        for offset, step in enumerate(("Old_Started", "Old_Done")):
            value = structured(step, f"old-{number}-{step}", at_ms + offset * 100, f"o{number}")
            await produce(topic, value, partition=offset, timestamp_ms=at_ms + offset * 100)
    # An hour ago: Build_Done always on partition 1, Deploy_Done a minute later on partition 0,
    # in binary mode. Read partition by partition, Deploy_Done would seem to come first.
    for number in range(8):
        at_ms = now_ms - 3_600_000 + number * 120_000
        await produce(
            topic,
            structured("Build_Done", f"b-{number}", at_ms, f"r{number}"),
            partition=1,
            timestamp_ms=at_ms,
        )
        deploy_ms = at_ms + 60_000
        await produce(
            topic,
            orjson.dumps({"rollout_id": f"r{number}", "version": "2.0"}),
            headers=[
                ("ce_specversion", b"1.0"),
                ("ce_type", b"Deploy_Done"),
                ("ce_id", f"d-{number}".encode()),
                ("ce_source", b"/deployer"),
                ("ce_time", format_rfc3339(deploy_ms / 1000).encode()),
                ("content-type", b"application/json"),
            ],
            partition=0,
            timestamp_ms=deploy_ms,
        )
    config = tmp_path / "run.yaml"
    config.write_text(
        f"expectations: {ROOT / 'expectations'}\n"
        f"schemas: {ROOT / 'expectations' / 'schemas'}\n"
        "kafka:\n"
        f"  bootstrap_servers: {broker.bootstrap_servers}\n"
        f"  topics: [{topic}]\n"
        "  group_id: learn-test-group\n"
    )
    out = tmp_path / "learned"

    code = await asyncio.to_thread(
        main, ["learn", "--config", str(config), "--since", "7d", "--output", str(out)]
    )

    assert code == 0
    (learned,) = load_expectations([out]).expectations
    assert [(step.event, step.after) for step in learned.steps] == [
        ("Build_Done", ()),
        ("Deploy_Done", ("Build_Done",)),
    ]
    assert learned.correlate == "data.rollout_id"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap_servers,
        group_id="learn-test-group",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        for partition in (0, 1):
            assert await consumer.committed(TopicPartition(topic, partition)) is None
    finally:
        await consumer.stop()


def structured(event_type: str, event_id: str, at_ms: int, rollout: str) -> bytes:
    return orjson.dumps(
        {"specversion": "1.0", "type": event_type, "id": event_id, "source": "/ci",
         "time": format_rfc3339(at_ms / 1000), "data": {"rollout_id": rollout}}
    )  # fmt: skip
