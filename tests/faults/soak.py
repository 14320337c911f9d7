"""`make soak`: ten minutes (SOAK_MINUTES) of steady rollouts through a real broker and a real
`sentinel run`, with a scripted schedule of faults, then a table of what was injected and
what held. Not part of `make test`: it is slow by design. Run from the repository root."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runtime.watcher_support import Process, holding, make_config, wait_for

from faults.load import Load, verdict
from sentinel.kafka.broker import EmbeddedBroker

TOPIC = "soak"


@dataclass
class Injected:
    fault: str
    at: float
    lasted: float
    note: str = ""


class Soak:
    def __init__(self, broker: EmbeddedBroker, work: Path) -> None:
        self.broker = broker
        self.work = work
        self.config = make_config(
            work, broker, TOPIC, window="6s", state_path=work / "state.db",
            session_timeout="6s", kafka_extra="  group_instance_id: soak-0\n",
        ).source  # fmt: skip
        self.lives: list[Process] = []
        self.log: list[Injected] = []
        self.started = time.time()

    async def start_sentinel(self) -> float:
        """A new life; how long its partitions were unwatched (kill to assignment)."""
        began = time.time()
        process = Process(self.config, self.work, f"life-{len(self.lives)}")
        self.lives.append(process)
        await wait_for(lambda: bool(holding(process)), 60, "partitions assigned")
        return time.time() - began

    async def freeze(self, seconds: float) -> None:
        at = time.time()
        self.broker.freeze()
        await asyncio.sleep(seconds)
        self.broker.thaw()
        self.log.append(Injected(f"broker frozen {seconds:.0f}s", at - self.started, seconds))

    async def kill(self) -> None:
        at = time.time()
        await asyncio.to_thread(self.lives[-1].stop, signal.SIGKILL)
        unwatched = await self.start_sentinel()
        self.log.append(
            Injected("sentinel SIGKILLed, restarted", at - self.started, time.time() - at,
                     f"partitions unwatched {unwatched:.1f}s")
        )  # fmt: skip

    async def stop_and_start(self) -> None:
        at = time.time()
        await asyncio.to_thread(self.lives[-1].stop, signal.SIGTERM)
        unwatched = await self.start_sentinel()
        self.log.append(
            Injected("sentinel SIGTERMed, restarted", at - self.started, time.time() - at,
                     f"partitions unwatched {unwatched:.1f}s")
        )  # fmt: skip

    def findings(self) -> list[dict[str, object]]:
        return [finding for life in self.lives for finding in life.findings()]


async def soak(minutes: float) -> int:
    with tempfile.TemporaryDirectory(prefix="sentinel-soak-") as folder:
        work = Path(folder)
        async with EmbeddedBroker(log_path=work / "tansu.log") as broker:
            await broker.create_topics([TOPIC], partitions=3)
            run = Soak(broker, work)
            await run.start_sentinel()
            load = Load(broker.bootstrap_servers, TOPIC, every_s=0.2, gap_s=1.5)
            load.start()
            schedule: list[Callable[[], object]] = [
                lambda: run.freeze(15),
                run.kill,
                lambda: run.freeze(40),
                run.stop_and_start,
                run.kill,
            ]
            end = time.time() + minutes * 60
            turn = 0
            while time.time() < end - 30:
                await asyncio.sleep(min(45.0, max(0.0, end - 30 - time.time())))
                if time.time() < end - 30:
                    await schedule[turn % len(schedule)]()  # type: ignore[misc]
                    turn += 1
            await asyncio.to_thread(load.stop)
            await asyncio.sleep(15)
            held = verdict(run.findings(), load)
            for life in run.lives:
                if life.popen.poll() is None:
                    life.stop()
    print(f"soak: {minutes:g} minutes, {len(load.on_time)} on-time and {len(load.stalled)} "
          f"stalling rollouts, {len(run.lives)} lives of the sentinel")  # fmt: skip
    print(f"{'at':>7}  {'fault':<32} {'lasted':>7}  note")
    for item in run.log:
        print(f"{item.at:6.0f}s  {item.fault:<32} {item.lasted:6.1f}s  {item.note}")
    print()
    for invariant, broken in held.items():
        print(f"{invariant:<16} {'held' if not broken else f'BROKEN: {broken[:10]}'}")
    if load.failed:
        print(f"producer failures: {load.failed[:5]}")
    return 0 if not any(held.values()) and not load.failed else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(soak(float(os.environ.get("SOAK_MINUTES", "10")))))
