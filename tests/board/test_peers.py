"""Several replicas behind `http.peers` (real servers on real ports, in one process): any
replica's API, board and stream answer for all of them; a replica that does not answer is
named in `partial`; a question from a peer is answered for that replica only."""

from __future__ import annotations

import asyncio

import aiohttp
from engine.helpers import MIN, T0, event

from sentinel.local_port import free_port
from sentinel.web.peers import LOCAL_HEADER

from .conftest import NAME, StartSentinel
from .server import Sentinel, get
from .test_stream import next_finding


def free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


async def pair(start_sentinel: StartSentinel) -> tuple[Sentinel, Sentinel]:
    """Replicas a and b, each named in both's `http.peers`; a owns r-a, b owns r-b."""
    ports = free_ports(2)
    peers = [f"127.0.0.1:{port}" for port in ports]
    a = await start_sentinel(port=ports[0], peers=peers)
    b = await start_sentinel(port=ports[1], peers=peers)
    a.events([event("SchemaV2_Ready", T0, "r-a", "e-a")], T0 + 11 * MIN)  # it stalls
    b.events([event("SchemaV2_Ready", T0 + MIN, "r-b", "e-b")], T0 + MIN)
    return a, b


def keys(body: dict) -> list[str]:  # type: ignore[type-arg]
    return [row["rollout"] for row in body["rollouts"]]


async def test_either_replica_lists_every_rollout_and_finds_each_one(
    start_sentinel: StartSentinel,
) -> None:
    a, b = await pair(start_sentinel)
    for replica in (a, b):
        _, body, _ = await get(replica.url, "/api/v1/rollouts")
        assert (keys(body), body["partial"]) == (["r-a", "r-b"], [])  # r-a stalled: first
        assert (body["total"], body["with_problems"]) == (2, 1)
    status, full, _ = await get(a.url, f"/api/v1/rollouts/{NAME}/r-b")
    assert (status, full["steps"][0]["event_id"]) == (200, "e-b")
    status, page, _ = await get(b.url, f"/rollouts/{NAME}/r-a")
    assert status == 200
    assert "e-a" in page
    _, board, _ = await get(b.url, "/")
    assert 'data-rollout="r-a"' in board
    assert 'data-rollout="r-b"' in board


async def test_pages_run_across_the_replicas_from_one_cursor(
    start_sentinel: StartSentinel,
) -> None:
    a, b = await pair(start_sentinel)
    a.events([event("SchemaV2_Ready", T0 + 2 * MIN, "r-a2", "e-a2")], T0 + 11 * MIN)
    seen: list[str] = []
    after: dict[str, str] = {}
    for _ in range(3):
        _, body, _ = await get(b.url, "/api/v1/rollouts", limit="1", **after)
        assert body["total"] == 3
        seen += keys(body)
        if body["next"] is None:
            break
        after = {"after": body["next"]}
    assert seen == ["r-a", "r-a2", "r-b"]  # the stalled one, then the newest opened
    assert body["next"] is None


async def test_the_findings_of_every_replica_are_merged_newest_first(
    start_sentinel: StartSentinel,
) -> None:
    a, b = await pair(start_sentinel)
    b.events([], T0 + 12 * MIN)  # r-b stalls too, a minute after r-a
    _, body, _ = await get(a.url, "/api/v1/findings")
    assert [(f["kind"], f["rollout"]) for f in body["findings"]] == [
        ("stall", "r-b"),
        ("stall", "r-a"),
    ]


async def test_a_replica_that_does_not_answer_is_named_not_silently_left_out(
    start_sentinel: StartSentinel,
) -> None:
    a, b = await pair(start_sentinel)
    await b.stop()
    _, body, _ = await get(a.url, "/api/v1/rollouts")
    assert (keys(body), body["partial"]) == (["r-a"], [b.address])
    status, missing, _ = await get(a.url, f"/api/v1/rollouts/{NAME}/r-b")
    assert (status, missing["partial"]) == (404, [b.address])
    _, findings, _ = await get(a.url, "/api/v1/findings")
    assert findings["partial"] == [b.address]
    _, board, _ = await get(a.url, "/")
    assert f"Not answering: {b.address}" in board


async def test_a_question_from_a_peer_is_answered_for_this_replica_only(
    start_sentinel: StartSentinel,
) -> None:
    a, _ = await pair(start_sentinel)
    _, body, _ = await get(a.url, "/api/v1/rollouts", headers={LOCAL_HEADER: "1"})
    assert keys(body) == ["r-a"]
    status, _, _ = await get(a.url, f"/api/v1/rollouts/{NAME}/r-b", headers={LOCAL_HEADER: "1"})
    assert status == 404


async def test_a_peer_name_that_does_not_resolve_is_named(start_sentinel: StartSentinel) -> None:
    lonely = await start_sentinel(peers=["no-such-replica.invalid:9464"])
    _, body, _ = await get(lonely.url, "/api/v1/rollouts")
    assert body["partial"] == ["no-such-replica.invalid:9464"]


async def test_the_stream_of_any_replica_carries_the_findings_of_every_replica(
    start_sentinel: StartSentinel,
) -> None:
    a, b = await pair(start_sentinel)
    async with (
        aiohttp.ClientSession() as session,
        session.get(a.url + "/api/v1/stream") as stream,
    ):
        async with asyncio.timeout(5):
            while not b.feed._subscribers:  # until a follows b's stream
                await asyncio.sleep(0.01)
        b.events([], T0 + 12 * MIN)
        finding = await next_finding(stream)
    assert (finding["kind"], finding["rollout"]) == ("stall", "r-b")
