"""The HTTP face under a crowd (issue 22): GET / and GET /api/v1/rollouts with 200,000 open
rollouts, their time and size, and how long /healthz waits meanwhile (the liveness probe)."""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import sys
import time
from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.rollout import RolloutState
from sentinel.core.events.records import Partition
from sentinel.core.rules.expectations import Compensation, Expectation, Step
from sentinel.store.memory import MemoryStore
from sentinel.web.api import mount
from sentinel.web.cluster import Cluster
from sentinel.web.feed import LiveFeed
from sentinel.web.http import HttpServer
from sentinel.web.local import Replica
from sentinel.web.peers import Peers

OPEN_ROLLOUTS = 200_000
T0 = 1_795_600_800.0  # 2026-11-25T10:00:00Z
FEED = Partition("rollout.events", 0)
# Every 100th rollout has stalled: the board puts it first.
STALLED_EVERY = 100
PROBE_EVERY_S = 0.01
# The kubelet-like prober the crowd test uses too.
PROBE_SCRIPT = Path(__file__).resolve().parents[1] / "tests" / "board" / "healthz_probe.py"
# The same run before issue 22 (pure Python, the development machine): every open rollout
# rendered on the event loop.
BEFORE = {
    "/": "before issue 22: 31,722 ms, 273,890 kB, /healthz waited 30,646 ms, RSS +2,333 MiB",
    "/api/v1/rollouts": "before issue 22: 13,352 ms, 131,820 kB, /healthz waited 13,013 ms",
}


def expectation() -> Expectation:
    """The contract's example rollout: schema, user service within 10m, messaging within 5m."""
    return Expectation(
        name="user-service-v2",
        owner="team-identity",
        correlate="data.rollout_id",
        steps=(
            Step("SchemaV2_Ready"),
            Step("UserServiceV2_Running", after=("SchemaV2_Ready",), within=600.0),
            Step("MessagingService_Reconfigured", after=("UserServiceV2_Running",), within=300.0),
        ),
        compensation=(Compensation("Rollback_Initiated", "Rollback_Complete", 900.0),),
    )


def crowd(count: int, now: float) -> list[RolloutState]:
    """`count` open rollouts opened a second apart before `now`, their first step seen; every
    STALLED_EVERY-th one stalled on the second, the others waiting inside its window."""
    rollouts = []
    for n in range(count):
        opened = now - count + n
        stalled = n % STALLED_EVERY == 0
        rollouts.append(
            RolloutState(
                "user-service-v2",
                f"r-{n:06d}",
                opened,
                seen={"SchemaV2_Ready": opened},
                due={} if stalled else {"UserServiceV2_Running": now + 600.0},
                stalled=("UserServiceV2_Running",) if stalled else (),
                remaining=2,
                feeds=(FEED,),
            )
        )
    return rollouts


async def serve(count: int) -> tuple[HttpServer, str]:
    """The real HTTP face (as `sentinel run` mounts it) over an engine holding the crowd."""
    engine = Engine([expectation()])
    engine.restore(crowd(count, T0), [], T0)
    store = MemoryStore()
    feed = LiveFeed(engine)
    http = HttpServer("127.0.0.1", 0, CollectorRegistry())
    http.health = http.ready = lambda: (True, {})
    peers = Peers([], lambda: http.port)
    mount(http.app, Cluster(Replica(engine, store, feed), peers), feed, None)
    await http.start()
    return http, f"http://127.0.0.1:{http.port}"


async def measure(url: str, port: int, path: str) -> tuple[float, int, float]:
    """(seconds, bytes) of one GET of `path`, and the longest /healthz wait meanwhile."""
    probe = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROBE_SCRIPT),
        "127.0.0.1",
        str(port),
        str(PROBE_EVERY_S),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert probe.stdin is not None and probe.stdout is not None
    await probe.stdout.readline()
    await asyncio.sleep(0.1)
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        async with session.get(url + path, timeout=aiohttp.ClientTimeout(total=600)) as answer:
            body = await answer.read()
        ended = time.perf_counter()
    probe.stdin.close()
    waits = json.loads(await probe.stdout.read())
    await probe.wait()
    during = [wait for at, wait, _ in waits if started - 0.1 <= at <= ended]
    return ended - started, len(body), max(during, default=0.0)


async def run(count: int) -> dict[str, float]:
    """Each GET alone, with /healthz asked meanwhile."""
    http, url = await serve(count)
    gc.collect()
    gc.freeze()  # a full collection of the crowd is the engine's cost, not the face's
    figures: dict[str, float] = {}
    try:
        for path in ("/", "/api/v1/rollouts"):
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            seconds, size, wait = await measure(url, http.port, path)
            grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
            print(
                f"board: GET {path} with {count:,} open rollouts: {seconds * 1000:,.0f} ms,"
                f" {size / 1000:,.1f} kB; /healthz waited at most {wait * 1000:,.0f} ms"
                f" meanwhile; peak RSS +{grown / 1024:,.0f} MiB\n  ({BEFORE[path]})"
            )
            name = "board" if path == "/" else "api"
            figures[f"{name}_s"], figures[f"{name}_bytes"] = seconds, size
            figures[f"{name}_healthz_s"] = wait
    finally:
        gc.unfreeze()
        await http.stop()
    return figures


def main(count: int = OPEN_ROLLOUTS) -> dict[str, float]:
    return asyncio.run(run(count))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else OPEN_ROLLOUTS)
