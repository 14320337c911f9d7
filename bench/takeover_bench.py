"""How long a partition goes unwatched after `sentinel run` is SIGKILLed and started again (issue
17): from the kill to the new process's assignment, without and with static group membership
(`kafka.group_instance_id`, the pod name in the Helm chart), at the client's default 10 s
session. A measurement of waiting, not of speed: the machine's load barely moves it."""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from runtime.watcher_support import Process, holding, make_config, wait_for

from sentinel.kafka.broker import EmbeddedBroker

TRIALS = 3


async def unwatched(broker: EmbeddedBroker, work: Path, static: bool, trial: int) -> float:
    topic = f"takeover-{int(static)}-{trial}"
    await broker.create_topics([topic], partitions=3)
    config = make_config(
        work, broker, topic, group_id=f"takeover-{int(static)}-{trial}",
        session_timeout="10s", state_path=work / f"{topic}.db",
        kafka_extra="  group_instance_id: sentinel-0\n" if static else "",
    ).source  # fmt: skip
    first = Process(config, work, f"{topic}-first")
    await wait_for(lambda: bool(holding(first)), 60, "the first assignment")
    await asyncio.sleep(1)
    killed = time.time()
    await asyncio.to_thread(first.stop, signal.SIGKILL)
    second = Process(config, work, f"{topic}-second")
    try:
        await wait_for(lambda: bool(holding(second)), 120, "the takeover")
        return time.time() - killed
    finally:
        second.stop()


async def measure() -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="sentinel-takeover-") as folder:
        async with EmbeddedBroker() as broker:
            for static in (False, True):
                times = [
                    await unwatched(broker, Path(folder), static, trial) for trial in range(TRIALS)
                ]
                name = "static membership" if static else "dynamic membership"
                print(
                    f"SIGKILL to takeover, {name}: {min(times):.1f}-{max(times):.1f}s"
                    f" ({TRIALS} trials, session 10s, including the new process's start)"
                )
                figures[f"takeover_s_{'static' if static else 'dynamic'}"] = max(times)
    return figures


def main() -> dict[str, float]:
    return asyncio.run(measure())


if __name__ == "__main__":
    main()
