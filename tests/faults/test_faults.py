"""Faults under load, against a real broker and a real `sentinel run`: each test asserts the
invariants (no stall for an on-time rollout, every real stall told once, nothing lost or
doubled) and what the probes say, never how long anything took."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from board.test_peers import free_ports
from runtime.watcher_support import Process, make_config, wait_for

from sentinel.kafka.broker import EmbeddedBroker

from .load import Load, verdict

pytestmark = pytest.mark.broker

HELD = {"false stalls": [], "not completed": [], "completed twice": [], "stall missed": [],
        "stall twice": [], "told differently": []}  # fmt: skip


def probe(port: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def metric(port: int, name: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


@pytest.fixture
async def private_broker(tmp_path: Path) -> Any:
    """A broker of the test's own: freezing the session's would stop every other test."""
    async with EmbeddedBroker(log_path=tmp_path / "tansu.log") as broker:
        yield broker


async def test_a_frozen_broker_raises_no_false_stall_and_the_probes_say_why(
    private_broker: EmbeddedBroker, tmp_path: Path, processes: list[Process]
) -> None:
    broker = private_broker
    topic = "rollouts"
    await broker.create_topics([topic], partitions=3)
    [port] = free_ports(1)
    config = make_config(
        tmp_path, broker, topic, window="4s", state_path=tmp_path / "state.db",
        session_timeout="10s", http=f"  listen: 127.0.0.1:{port}\n",
        kafka_extra="  unreachable_after: 3s\n",
    )  # fmt: skip
    sentinel = Process(config.source, tmp_path, "sentinel")
    processes.append(sentinel)
    await sentinel.wait_ready()
    load = Load(broker.bootstrap_servers, topic, every_s=0.2, gap_s=1.0)
    load.start()
    await asyncio.sleep(5)
    broker.freeze()
    try:
        await wait_for(lambda: probe(port, "/readyz")[0] == 503, 20, "/readyz to say 503")
        _, ready = await asyncio.to_thread(probe, port, "/readyz")
        assert ready["kafka"]["reachable"] is False and ready["kafka"]["since"], ready
        assert await asyncio.to_thread(metric, port, "sentinel_deadlines_held") == 1
        assert await asyncio.to_thread(metric, port, "sentinel_kafka_reachable") == 0
        assert (await asyncio.to_thread(probe, port, "/healthz"))[0] == 200
        await asyncio.sleep(8)  # every deadline of the rollouts begun before passes meanwhile
    finally:
        broker.thaw()
    await asyncio.sleep(6)
    await asyncio.to_thread(load.stop)
    assert not load.failed, load.failed[:5]
    await wait_for(
        lambda: not any(verdict(sentinel.findings(), load)[k] for k in ("not completed",
                                                                         "stall missed")),
        60, "every rollout to complete or stall",
    )  # fmt: skip
    await asyncio.sleep(2)
    assert verdict(sentinel.findings(), load) == HELD
    assert (await asyncio.to_thread(probe, port, "/readyz"))[1]["kafka"] == {"reachable": True}
    assert sentinel.popen.poll() is None


@pytest.mark.parametrize("store", ["sqlite", "changelog"])
async def test_sigkill_again_and_again_under_load_loses_and_doubles_nothing(
    store: str, broker: EmbeddedBroker, topic_factory: Any, tmp_path: Path,
    processes: list[Process],
) -> None:  # fmt: skip
    """SQLite: the restarted process reads its file. Changelog (input not keyed, so through
    the repartition stage too): it starts with no file and restores from the changelog."""
    topic = await topic_factory(partitions=3)
    changelog = store == "changelog"
    config = make_config(
        tmp_path, broker, topic, window="4s", group_id=f"kill-loop-{time.time_ns()}",
        state_path=None if changelog else tmp_path / "state.db",
        state_mode="changelog" if changelog else None,
        kafka_extra="  group_instance_id: sentinel-0\n"
        + ("  replication_factor: 1\n" if changelog else ""),
        session_timeout="6s",
    )  # fmt: skip
    load = Load(broker.bootstrap_servers, topic, every_s=0.1, gap_s=0.5)
    load.start()
    lives: list[Process] = []
    for life in range(4):
        process = Process(config.source, tmp_path, f"life-{life}")
        processes.append(process)
        lives.append(process)
        await process.wait_ready()
        await asyncio.sleep(3)
        if life < 3:
            assert await asyncio.to_thread(process.stop, signal.SIGKILL) == -signal.SIGKILL
    await asyncio.to_thread(load.stop)
    assert not load.failed, load.failed[:5]
    everything = lambda: [f for p in lives for f in p.findings()]  # noqa: E731
    await wait_for(lambda: not verdict(everything(), load)["not completed"], 90, "every completion")
    await asyncio.sleep(6)  # the real stalls are due
    assert verdict(everything(), load) == HELD
