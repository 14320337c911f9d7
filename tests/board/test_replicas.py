"""Two `sentinel run` processes in changelog mode on the embedded broker, each naming both in
`http.peers`: either one's API lists every rollout, open (asked of the peer that owns it) and
closed (from the history topic); with one stopped, the other's answer names it in `partial`."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from runtime.watcher_support import (
    MESSAGING,
    SCHEMA,
    SERVICE,
    Process,
    cloud_event,
    holding,
    make_config,
)

from sentinel.kafka.broker import EmbeddedBroker
from sentinel.web.peers import LOCAL_HEADER

from .server import get
from .test_peers import free_ports

pytestmark = pytest.mark.broker

OPEN = [f"m{number}" for number in range(1, 8, 2)]
DONE = [f"m{number}" for number in range(0, 8, 2)]
WAIT_S = 60


async def answer(port: int, local: bool = False, **params: str) -> dict[str, Any]:
    headers = {LOCAL_HEADER: "1"} if local else {}
    url = f"http://127.0.0.1:{port}"
    status, body, _ = await get(url, "/api/v1/rollouts", headers=headers, **params)
    assert status == 200
    return body  # type: ignore[no-any-return]


async def eventually(check: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"waited {WAIT_S}s for {what}"
        await asyncio.sleep(0.5)


async def test_either_replica_lists_every_rollout_and_names_the_one_that_stopped(
    broker: EmbeddedBroker,
    topic_factory: Any,
    produce: Any,
    tmp_path: Path,
    processes: list[Process],
) -> None:
    topic = await topic_factory(partitions=4)
    ports = free_ports(2)
    peers = ", ".join(f"127.0.0.1:{port}" for port in ports)
    replicas = []
    for name, port in zip("ab", ports, strict=True):
        folder = tmp_path / name
        folder.mkdir()
        config = make_config(
            folder, broker, topic, group_id=f"board-{topic}", state_path=folder / "state.db",
            window="1h", state_mode="changelog", session_timeout="3s",
            kafka_extra="  input_keyed_by_rollout: true\n  replication_factor: 1\n",
            http=f"  listen: 127.0.0.1:{port}\n  peers: [{peers}]\n",
        )  # fmt: skip
        replicas.append(Process(config.source, tmp_path, name))
    processes += replicas
    first, second = replicas
    every = {f"{topic}/{number}" for number in range(4)}

    async def settled() -> bool:  # the group's final assignment: all four, split in two
        mine, theirs = holding(first), holding(second)
        return bool(mine) and bool(theirs) and not mine & theirs and mine | theirs == every

    await eventually(settled, "both replicas holding their share of the partitions")
    for rollout in OPEN + DONE:
        await produce(topic, cloud_event("SchemaV2_Ready", rollout, f"{rollout}-1", **SCHEMA),
                      key=rollout.encode())  # fmt: skip
    for rollout in DONE:
        running = cloud_event("UserServiceV2_Running", rollout, f"{rollout}-2", **SERVICE)
        await produce(topic, running, key=rollout.encode())
        done = cloud_event("MessagingService_Reconfigured", rollout, f"{rollout}-3", **MESSAGING)
        await produce(topic, done, key=rollout.encode())

    async def everything_listed() -> bool:
        for port in ports:
            opened, closed = await answer(port), await answer(port, phase="closed")
            if sorted(_keys(opened)) != OPEN or sorted(_keys(closed)) != DONE:
                return False
            assert opened["partial"] == closed["partial"] == []
        return True

    await eventually(everything_listed, "every rollout listed by both replicas")
    own = [_keys(await answer(port, local=True)) for port in ports]
    assert all(own), "each replica owns some, and asked the other for the rest"
    assert sorted(own[0] + own[1]) == OPEN

    assert await asyncio.to_thread(second.stop, signal.SIGTERM) == 0
    body = await answer(ports[0], phase="all")
    assert body["partial"] == [f"127.0.0.1:{ports[1]}"]
    assert set(DONE) <= set(_keys(body))  # the history topic holds what the other closed


def _keys(body: dict[str, Any]) -> list[str]:
    return [row["rollout"] for row in body["rollouts"]]
