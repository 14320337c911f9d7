"""The HTTP face under a crowd (issue 22): with 200,000 open rollouts in a real engine, the board
and the rollout API answer one bounded page (those that need someone first, how many there are
in all, the cursor of the next), and /healthz, asked meanwhile by another process as the
kubelet asks it, answers within 100 ms: a list never holds the event loop for long."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from engine.helpers import T0

from sentinel.core.engine.rollout import RolloutState
from sentinel.core.events.records import Partition

from .conftest import NAME, StartSentinel
from .server import Sentinel

CROWD = 200_000
STALLED_EVERY = 100  # 2,000 of them stalled: they come first
HEALTHZ_S = 0.1
PAGE_BYTES = 1_000_000
PROBE_SCRIPT = Path(__file__).with_name("healthz_probe.py")


def crowd(count: int, now: float) -> Iterator[RolloutState]:
    """Open rollouts of the contract's example, opened a second apart, the first step seen;
    every STALLED_EVERY-th stalled on the second, the others inside its window."""
    feed = Partition("rollout.events", 0)
    for n in range(count):
        opened = now - count + n
        stalled = n % STALLED_EVERY == 0
        yield RolloutState(
            NAME,
            f"r-{n:06d}",
            opened,
            seen={"SchemaV2_Ready": opened},
            due={} if stalled else {"UserServiceV2_Running": now + 600.0},
            stalled=("UserServiceV2_Running",) if stalled else (),
            remaining=2,
            deadline_at=now + 1800.0,
            feeds=(feed,),
        )


@pytest.fixture
async def crowded(start_sentinel: StartSentinel) -> Sentinel:
    sentinel = await start_sentinel(wall_clock=T0)
    sentinel.engine.restore(crowd(CROWD, T0), [], T0)
    # A full collection over the crowd's objects takes ~80 ms whatever the server does: the
    # engine's cost, not the HTTP face's, which is what this test measures.
    gc.collect()
    gc.freeze()
    return sentinel


async def test_healthz_answers_fast_while_the_board_and_the_api_list_200000_rollouts(
    crowded: Sentinel,
) -> None:
    probe = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROBE_SCRIPT),
        "127.0.0.1",
        str(crowded.http.port),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert probe.stdin is not None and probe.stdout is not None
    try:
        async with asyncio.timeout(30):
            assert await probe.stdout.readline() == b"ready\n"
            await asyncio.sleep(0.2)
            started = time.perf_counter()
            async with aiohttp.ClientSession() as session:
                pages = await asyncio.gather(
                    *(fetch(session, crowded.url + path) for path in ["/", "/api/v1/rollouts"] * 2)
                )
            asked = (started, time.perf_counter())
            probe.stdin.close()
            waits = json.loads(await probe.stdout.read())
    finally:
        gc.unfreeze()
        if probe.returncode is None:
            probe.kill()
        await probe.wait()
    during = [wait for at, wait, _ in waits if asked[0] - 0.1 <= at <= asked[1]]
    assert len(during) >= 5, "the probe asked while the pages were built"
    assert all(status == 200 for _, _, status in waits)
    assert max(during) < HEALTHZ_S, sorted(during)[-5:]
    board, api = pages[0], json.loads(pages[1])
    assert len(board) < PAGE_BYTES
    assert "200,000" in board.decode()
    assert 'rel="next"' in board.decode()
    assert len(pages[1]) < PAGE_BYTES
    assert (api["total"], api["with_problems"], len(api["rollouts"])) == (CROWD, 2000, 100)
    assert all(row["problems"] == ["stall"] for row in api["rollouts"])
    assert api["next"] is not None


async def fetch(session: aiohttp.ClientSession, url: str) -> bytes:
    async with session.get(url) as answer:
        assert answer.status == 200
        return await answer.read()


async def test_the_next_pages_follow_the_first_without_a_gap_or_a_repeat(
    start_sentinel: StartSentinel,
) -> None:
    sentinel = await start_sentinel(wall_clock=T0)
    sentinel.engine.restore(crowd(1_050, T0), [], T0)
    seen: list[str] = []
    after: dict[str, str] = {}
    async with aiohttp.ClientSession() as session:
        for _ in range(5):
            params = {"limit": "300", **after}
            async with session.get(sentinel.url + "/api/v1/rollouts", params=params) as answer:
                body = await answer.json()
            seen += [row["rollout"] for row in body["rollouts"]]
            if body["next"] is None:
                break
            after = {"after": body["next"]}
    stalled = [f"r-{n:06d}" for n in range(0, 1_050, STALLED_EVERY)]
    others = [f"r-{n:06d}" for n in range(1_049, -1, -1) if n % STALLED_EVERY]
    assert seen == stalled[::-1] + others  # those that need someone, then newest opened
