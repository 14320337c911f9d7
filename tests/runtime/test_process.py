"""`sentinel run` as a process: bad config, SIGTERM, restarts and SIGKILL with a state file."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from board.test_peers import free_ports

from sentinel.kafka.broker import EmbeddedBroker
from sentinel.store.changelog import changelog_topic

from .watcher_support import MESSAGING, SCHEMA, SERVICE, Process, cloud_event, make_config, wait_for

pytestmark = pytest.mark.broker


def test_a_config_with_a_typo_is_refused_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"expectations: {tmp_path}\nschemas: {tmp_path}\n"
        "kafka:\n  bootstrap_server: localhost:9092\n  topics: [t]\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "sentinel", "run", "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert (
        "kafka.bootstrap_server: unknown key (did you mean 'bootstrap_servers'?)" in result.stderr
    )
    assert "Traceback" not in result.stderr


async def test_sigterm_finishes_commits_and_exits_0(
    broker: EmbeddedBroker, topic_factory: Any, produce: Any, tmp_path: Path,
    processes: list[Process],
) -> None:  # fmt: skip
    topic = await topic_factory()
    config = make_config(tmp_path, broker, topic, group_id="sigterm-group")
    first = Process(config.source, tmp_path, "first")
    processes.append(first)
    await first.wait_ready()
    await produce(topic, cloud_event("SchemaV2_Ready", "t1", "s1", **SCHEMA))
    await produce(topic, cloud_event("Unregistered_Thing", "t1", "s2"))
    await wait_for(lambda: "unregistered_event" in first.kinds(), 30, "the first finding")
    assert await asyncio.to_thread(first.stop) == 0
    assert first.log_has('"message": "stopped"') or first.log_has('"message":"stopped"')
    # The offsets were committed: a new process in the group reads nothing twice.
    second = Process(config.source, tmp_path, "second")
    processes.append(second)
    await second.wait_ready()
    await asyncio.sleep(1.5)
    assert second.kinds() == []
    assert await asyncio.to_thread(second.stop) == 0


async def test_a_restart_with_a_state_file_loses_and_repeats_nothing(
    broker: EmbeddedBroker, topic_factory: Any, produce: Any, tmp_path: Path,
    processes: list[Process],
) -> None:  # fmt: skip
    topic = await topic_factory()
    state = tmp_path / "state.db"
    config = make_config(tmp_path, broker, topic, group_id="restart-group", state_path=state,
                         window="20s")  # fmt: skip
    first = Process(config.source, tmp_path, "first")
    processes.append(first)
    await first.wait_ready()
    await produce(topic, cloud_event("SchemaV2_Ready", "k1", "r1", **SCHEMA))
    await produce(topic, cloud_event("MessagingService_Reconfigured", "k1", "r2", **MESSAGING))
    await wait_for(lambda: "out_of_order" in first.kinds(), 30, "out_of_order")
    assert await asyncio.to_thread(first.stop) == 0
    await produce(topic, cloud_event("UserServiceV2_Running", "k1", "r3", **SERVICE))
    second = Process(config.source, tmp_path, "second")
    processes.append(second)
    await wait_for(lambda: "completed" in second.kinds(), 30, "completed after the restart")
    # The rollout opened before the restart is the one that completed after it.
    assert second.kinds() == ["completed"]
    assert first.kinds() == ["out_of_order"]


async def test_sigkill_between_an_event_and_its_deadline_reports_the_stall_once(
    broker: EmbeddedBroker, topic_factory: Any, produce: Any, tmp_path: Path,
    processes: list[Process],
) -> None:  # fmt: skip
    topic = await topic_factory()
    state = tmp_path / "state.db"
    config = make_config(tmp_path, broker, topic, group_id="kill-group", state_path=state,
                         window="6s")  # fmt: skip
    first = Process(config.source, tmp_path, "first")
    processes.append(first)
    await first.wait_ready()
    sent = time.time()
    await produce(topic, cloud_event("SchemaV2_Ready", "k2", "x1", at=sent, **SCHEMA))
    await produce(topic, cloud_event("Unregistered_Marker", "k2", "x2", at=sent))
    await wait_for(lambda: "unregistered_event" in first.kinds(), 30, "the batch to be kept")
    assert await asyncio.to_thread(first.stop, signal.SIGKILL) == -signal.SIGKILL
    assert first.kinds() == ["unregistered_event"]
    await asyncio.sleep(max(0.0, sent + 6 - time.time()))  # the deadline passes while down
    second = Process(config.source, tmp_path, "second")
    processes.append(second)
    await wait_for(lambda: "stall" in second.kinds(), 30, "the stall after the restart")
    await asyncio.sleep(1.0)
    assert second.kinds() == ["stall"], "reported once, and nothing said before is repeated"
    os.kill(second.popen.pid, signal.SIGTERM)
    assert await asyncio.to_thread(second.popen.wait, 30) == 0


async def test_a_sentinel_started_without_a_broker_waits_says_why_and_joins_when_it_comes(
    tmp_path: Path, processes: list[Process]
) -> None:
    """No exit and no crash loop (Kubernetes would back off its restarts for minutes): the
    process stays up, /readyz names the bus, and it reads as soon as a broker answers."""
    [port, http_port] = free_ports(2)
    broker = EmbeddedBroker(log_path=tmp_path / "tansu.log", port=port)
    config = make_config(
        tmp_path, broker, "late-topic", http=f"  listen: 127.0.0.1:{http_port}\n",
        kafka_extra="  unreachable_after: 1s\n",
    )  # fmt: skip
    sentinel = Process(config.source, tmp_path, "sentinel")
    processes.append(sentinel)
    readyz = f"http://127.0.0.1:{http_port}/readyz"
    await wait_for(lambda: _status(readyz)[0] == 503, 30, "/readyz to answer")
    await asyncio.sleep(2)
    status, body = _status(readyz)
    assert status == 503 and body["kafka"]["reachable"] is False, body
    assert f"cannot reach Kafka at 127.0.0.1:{port}" in body["kafka"]["error"], body
    assert _status(f"http://127.0.0.1:{http_port}/healthz")[0] == 200
    assert sentinel.popen.poll() is None
    async with broker:
        await broker.create_topics(["late-topic"])
        await wait_for(lambda: sentinel.log_has("partitions assigned"), 60, "the join")
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
        await producer.start()
        try:
            for step, (kind, data) in enumerate(
                (("SchemaV2_Ready", SCHEMA), ("UserServiceV2_Running", SERVICE),
                 ("MessagingService_Reconfigured", MESSAGING))
            ):  # fmt: skip
                await producer.send_and_wait(
                    "late-topic", cloud_event(kind, "l1", f"l{step}", **data)
                )
        finally:
            await producer.stop()
        await wait_for(lambda: "completed" in sentinel.kinds(), 30, "the rollout to complete")
    assert "Traceback" not in sentinel.err.read_text()


def _status(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return 0, {}


async def test_a_replica_that_cannot_restore_its_partitions_stops_with_the_reason(
    broker: EmbeddedBroker, topic_factory: Any, produce: Any, tmp_path: Path,
    processes: list[Process],
) -> None:  # fmt: skip
    """Reading on without the partition's state would lose its open rollouts in silence."""
    topic = await topic_factory()
    group = f"unrestorable-{topic}"
    changelog = changelog_topic(group, topic)
    await broker.create_topics([changelog], partitions=1)
    await produce(changelog, b"{}", key=b"r[1, 2", partition=0)  # a rollout key, cut short
    config = make_config(
        tmp_path, broker, topic, group_id=group, state_path=tmp_path / "state.db",
        state_mode="changelog", kafka_extra="  input_keyed_by_rollout: true\n",
    )  # fmt: skip
    replica = Process(config.source, tmp_path, "replica")
    processes.append(replica)

    assert await asyncio.to_thread(replica.popen.wait, 60) == 2
    stderr = replica.err.read_text()
    assert f"could not take over partitions {topic}" in stderr
    assert f"sentinel: {changelog}[0] at offset 0 is not a sentinel changelog record" in stderr
    assert "Traceback" not in stderr
