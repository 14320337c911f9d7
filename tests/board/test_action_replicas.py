"""On-call actions across two `sentinel run` processes in changelog mode (contract section 14):
an operator's click on either replica reaches the rollout's owner, and once one replica stops,
the other holds every rollout with every action taken on it."""

from __future__ import annotations

import asyncio
import base64
import signal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from runtime.watcher_support import SCHEMA, Process, cloud_event, holding, make_config

from sentinel.config import BasicAuth, HttpSettings
from sentinel.kafka.broker import EmbeddedBroker
from sentinel.status.operators import action_token

from .server import get
from .test_peers import free_ports
from .test_replicas import eventually

pytestmark = pytest.mark.broker

NAME = "fast-user-service"
OPEN = [f"m{number}" for number in range(6)]
AUTH = BasicAuth("oncall", "s3cret")
HEADERS = {
    "Authorization": "Basic " + base64.b64encode(b"oncall:s3cret").decode(),
}


async def act(port: int, rollout: str, verb: str) -> tuple[int, Any]:
    url = f"http://127.0.0.1:{port}"
    # The board's page of one replica set the session cookie; its token verifies on both.
    session = "5e55" * 8
    token = action_token(HttpSettings(basic_auth=AUTH, operators=("oncall",)), "oncall", session)
    assert token is not None
    cookie = f"sentinel_session={session}"
    headers = {**HEADERS, "Origin": url, "Cookie": cookie, "X-Sentinel-Token": token}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{url}/api/v1/rollouts/{NAME}/{rollout}/actions",
            data=orjson.dumps({"verb": verb}),
            headers=headers,
        ) as answer,
    ):
        return answer.status, await answer.json()


async def test_a_click_on_either_replica_is_kept_and_survives_the_owners_stop(
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
        http = (
            f"  listen: 127.0.0.1:{port}\n  peers: [{peers}]\n"
            "  basic_auth:\n    username: oncall\n    password: s3cret\n"
            "  operators: [oncall]\n"
        )
        config = make_config(
            folder, broker, topic, group_id=f"acts-{topic}", state_path=folder / "state.db",
            window="1h", state_mode="changelog", session_timeout="3s",
            kafka_extra="  input_keyed_by_rollout: true\n  replication_factor: 1\n",
            http=http,
        )  # fmt: skip
        replicas.append(Process(config.source, tmp_path, name))
    processes += replicas
    first, second = replicas
    every = {f"{topic}/{number}" for number in range(4)}

    async def settled() -> bool:
        mine, theirs = holding(first), holding(second)
        return bool(mine) and bool(theirs) and not mine & theirs and mine | theirs == every

    await eventually(settled, "both replicas holding their share of the partitions")
    for rollout in OPEN:
        await produce(topic, cloud_event("SchemaV2_Ready", rollout, f"{rollout}-1", **SCHEMA),
                      key=rollout.encode())  # fmt: skip

    async def every_rollout_open() -> bool:
        status, body, _ = await get(
            f"http://127.0.0.1:{ports[0]}", "/api/v1/rollouts", headers=HEADERS
        )
        return status == 200 and sorted(row["rollout"] for row in body["rollouts"]) == OPEN

    await eventually(every_rollout_open, "every rollout open on some replica")
    for rollout in OPEN:  # all clicked on the first replica: the second's are forwarded
        status, body = await act(ports[0], rollout, "acknowledge")
        assert status == 200, body
        assert [action["verb"] for action in body["actions"]] == ["acknowledge"]

    assert await asyncio.to_thread(second.stop, signal.SIGTERM) == 0

    async def all_held_with_their_actions() -> bool:
        if holding(first) != every:
            return False
        for rollout in OPEN:
            path = f"/api/v1/rollouts/{NAME}/{rollout}"
            url = f"http://127.0.0.1:{ports[0]}"
            status, body, _ = await get(url, path, headers={**HEADERS, "X-Sentinel-Local": "1"})
            if status != 200 or [a["by"] for a in body["actions"]] != ["oncall"]:
                return False
        return True

    await eventually(all_held_with_their_actions, "the first replica holding every action")
