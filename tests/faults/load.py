"""Rollouts sent as real services send them, for the fault tests and `make soak`: a librdkafka
producer (confluent-kafka) that stamps each event when it is created and buffers and retries
it while the broker does not answer; unkeyed, so a rollout's events land on any partition."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Producer

from sentinel.core.timefmt import format_rfc3339

STEPS = (
    ("SchemaV2_Ready", {"schema_version": "2", "migration_id": "m-1"}),
    ("UserServiceV2_Running", {"version": "2.0.0", "replicas": 3}),
    ("MessagingService_Reconfigured", {"user_service_version": "2.0.0", "config_revision": 7}),
)


@dataclass
class Load:
    """Opens a rollout every `every_s`; each takes its steps `gap_s` apart (on time for
    windows longer than that). Every `stall_every`-th rollout never sends its last step."""

    bootstrap_servers: str
    topic: str
    every_s: float = 0.25
    gap_s: float = 1.0
    stall_every: int = 10
    on_time: set[str] = field(default_factory=set)
    stalled: set[str] = field(default_factory=set)
    delivered: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop opening rollouts; the ones begun still send all their steps."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(120)

    def _run(self) -> None:
        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap_servers,
                "linger.ms": 5,
                "partitioner": "random",
                "message.timeout.ms": 120_000,  # retried this long: longer than any fault
                "enable.idempotence": True,
            }
        )
        pending: list[tuple[float, str, int]] = []  # (send at, rollout, step)
        number = 0
        next_open = time.time()
        while not self._stop.is_set() or pending:
            now = time.time()
            if not self._stop.is_set() and now >= next_open:
                key = f"load-{number}"
                stalls = self.stall_every > 0 and number % self.stall_every == self.stall_every - 1
                (self.stalled if stalls else self.on_time).add(key)
                steps = len(STEPS) - 1 if stalls else len(STEPS)
                pending += [(now + step * self.gap_s, key, step) for step in range(steps)]
                number += 1
                next_open = now + self.every_s
            due = [item for item in pending if item[0] <= now]
            for item in due:
                pending.remove(item)
                self._send(producer, item[1], item[2])
            producer.poll(0.01)
        producer.flush(120)

    def _send(self, producer: Producer, rollout: str, step: int) -> None:
        event_type, data = STEPS[step]
        event = {
            "specversion": "1.0",
            "id": f"{rollout}-{step}",
            "source": "/load",
            "type": event_type,
            "time": format_rfc3339(time.time()),  # created now, whenever it is delivered
            "data": {"rollout_id": rollout, **data},
        }

        def delivered(error: Any, message: Any) -> None:
            if error is None:
                self.delivered[rollout] += 1
            else:
                self.failed.append(f"{rollout}-{step}: {error}")

        producer.produce(self.topic, json.dumps(event).encode(), on_delivery=delivered)


def verdict(findings: Iterable[dict[str, Any]], load: Load) -> dict[str, list[str]]:
    """What held and what did not: every on-time rollout completed once and never stalled,
    every stalled one stalled once; empty lists all round when the invariants hold.

    A finding written again after a crash (the same id: standard output is at least once, a
    line is written before its batch is kept) counts once; its copies must say the same but
    for `at`, the wall-clock time each found it. Two findings with different ids for one
    rollout's completion are a real double."""
    told: dict[str, dict[str, Any]] = {}
    told_differently: list[str] = []
    for finding in findings:
        first = told.setdefault(finding["id"], finding)
        if {**first, "at": None} != {**finding, "at": None}:
            told_differently.append(finding["id"])
    completed = Counter(f["rollout"] for f in told.values() if f["kind"] == "completed")
    stalls = Counter(f["rollout"] for f in told.values() if f["kind"] == "stall")
    return {
        "false stalls": sorted(r for r in stalls if r in load.on_time),
        "not completed": sorted(r for r in load.on_time if completed[r] == 0),
        "completed twice": sorted(r for r in completed if completed[r] > 1),
        "stall missed": sorted(r for r in load.stalled if stalls[r] == 0),
        "stall twice": sorted(r for r in load.stalled if stalls[r] > 1),
        "told differently": told_differently,
    }
