"""Several replicas in one consumer group (state.mode: changelog): each reports only its own
rollouts, together they report every finding once, and a survivor takes over a dead one's
partitions with their state and still reports the stalls that were pending there."""

from __future__ import annotations

import asyncio
import collections
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from sentinel.kafka.broker import EmbeddedBroker

from .watcher_support import (
    MESSAGING,
    SCHEMA,
    SERVICE,
    Process,
    cloud_event,
    holding,
    make_config,
    wait_for,
)

pytestmark = pytest.mark.broker

ROLLOUTS = [f"m{number}" for number in range(12)]
WINDOW_S = 12
SLACK_S = 8


def replica_config(directory: Path, broker: EmbeddedBroker, topic: str, name: str) -> Path:
    folder = directory / name
    folder.mkdir()
    config = make_config(
        folder, broker, topic, group_id=f"replicas-{topic}", state_path=folder / "state.db",
        window=f"{WINDOW_S}s", state_mode="changelog", session_timeout="3s",
        kafka_extra="  input_keyed_by_rollout: true\n  replication_factor: 1\n",
    )  # fmt: skip
    return config.source


async def start_pair(
    broker: EmbeddedBroker, topic: str, tmp_path: Path, processes: list[Process]
) -> tuple[Process, Process]:
    first = Process(replica_config(tmp_path, broker, topic, "a"), tmp_path, "a")
    second = Process(replica_config(tmp_path, broker, topic, "b"), tmp_path, "b")
    processes += [first, second]
    every = {f"{topic}/{number}" for number in range(6)}

    def settled() -> bool:  # the group's final assignment: all six, split between the two
        mine, theirs = holding(first), holding(second)
        return bool(mine) and bool(theirs) and not mine & theirs and mine | theirs == every

    await wait_for(settled, 60, "both replicas holding their share of the partitions")
    return first, second


async def open_rollouts(produce: Any, topic: str) -> float:
    """Every rollout opens; the even ones complete, the odd ones will stall. The odd ones
    open a little later by their event time: their stalls are due SLACK_S + WINDOW_S after
    the sending, time enough to kill a replica first however slow the machine is."""
    sent = time.time()
    for number, rollout in enumerate(ROLLOUTS):
        key = rollout.encode()
        at = sent + (SLACK_S if number % 2 else 0)
        await produce(topic, cloud_event("SchemaV2_Ready", rollout, f"{rollout}-1", at=at,
                                         **SCHEMA), key=key)  # fmt: skip
    for rollout in ROLLOUTS[::2]:
        key = rollout.encode()
        await produce(topic, cloud_event("UserServiceV2_Running", rollout, f"{rollout}-2",
                                         at=sent + 0.5, **SERVICE), key=key)  # fmt: skip
        await produce(topic, cloud_event("MessagingService_Reconfigured", rollout, f"{rollout}-3",
                                         at=sent + 1, **MESSAGING), key=key)  # fmt: skip
    return sent


def by_rollout(*processes: Process) -> collections.Counter[tuple[str, str]]:
    return collections.Counter(
        (finding["kind"], finding["rollout"])
        for process in processes
        for finding in process.findings()
        if finding["rollout"]
    )


async def wait_findings(
    want: collections.Counter[tuple[str, str]], replicas: tuple[Process, ...], timeout_s: float,
    what: str,
) -> None:  # fmt: skip
    """Wait until the replicas together reported exactly `want`; else say what differs."""
    try:
        await wait_for(lambda: by_rollout(*replicas) == want, timeout_s, what)
    except AssertionError as error:
        seen = by_rollout(*replicas)
        raise AssertionError(f"{error}: missing {want - seen}, extra {seen - want}") from None


def expected() -> collections.Counter[tuple[str, str]]:
    return collections.Counter(
        [("completed", r) for r in ROLLOUTS[::2]] + [("stall", r) for r in ROLLOUTS[1::2]]
    )


async def test_two_replicas_share_the_partitions_and_report_every_finding_once(
    broker: EmbeddedBroker, topic_factory: Any, produce: Any, tmp_path: Path,
    processes: list[Process],
) -> None:  # fmt: skip
    topic = await topic_factory(partitions=6)
    first, second = await start_pair(broker, topic, tmp_path, processes)
    await open_rollouts(produce, topic)
    await wait_findings(expected(), (first, second), 60, "every finding")
    await asyncio.sleep(1)
    assert by_rollout(first, second) == expected(), "each exactly once"
    mine = {rollout for _, rollout in by_rollout(first)}
    theirs = {rollout for _, rollout in by_rollout(second)}
    assert mine and theirs, "both replicas had work"
    assert not mine & theirs, "a rollout is reported by one replica only"


async def test_a_survivor_restores_a_killed_replicas_rollouts_and_reports_their_stalls(
    broker: EmbeddedBroker, topic_factory: Any, produce: Any, tmp_path: Path,
    processes: list[Process],
) -> None:  # fmt: skip
    topic = await topic_factory(partitions=6)
    first, second = await start_pair(broker, topic, tmp_path, processes)
    sent = await open_rollouts(produce, topic)
    completions = collections.Counter(("completed", r) for r in ROLLOUTS[::2])
    await wait_findings(completions, (first, second), 30, "the completions")
    assert time.time() < sent + SLACK_S + WINDOW_S, "the stalls must still be pending at the kill"
    assert await asyncio.to_thread(second.stop, signal.SIGKILL) == -signal.SIGKILL
    await wait_findings(expected(), (first, second), 60, "every stall")
    await asyncio.sleep(1)
    assert by_rollout(first, second) == expected(), "each exactly once"
