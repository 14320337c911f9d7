"""Building blocks for the watcher tests: a config on disk, collected findings, waiting."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from sentinel.config import Config, load_config
from sentinel.core.timefmt import format_rfc3339
from sentinel.kafka.broker import EmbeddedBroker

SHIPPED_SCHEMAS = Path(__file__).resolve().parents[2] / "expectations" / "schemas"

# The shipped user-service rollout with windows of seconds, so tests see stalls quickly.
FAST_EXPECTATION = """\
apiVersion: sentinel/v1
kind: Expectation
metadata:
  name: fast-user-service
  owner: team-identity
spec:
  correlate: data.rollout_id
  steps:
    - event: SchemaV2_Ready
    - event: UserServiceV2_Running
      after: [SchemaV2_Ready]
      within: 2s
      owner: team-users
    - event: MessagingService_Reconfigured
      after: [UserServiceV2_Running]
      within: 2s
  compensation:
    - trigger: Rollback_Initiated
      expect: Rollback_Complete
      within: 2s
"""

_groups = itertools.count()


def cloud_event(
    event_type: str, rollout: str, event_id: str, at: float | None = None, **data: Any
) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "/tests",
            "type": event_type,
            "time": format_rfc3339(at if at is not None else time.time()),
            "data": {"rollout_id": rollout, **data},
        }
    )


SCHEMA = {"schema_version": "2", "migration_id": "m-1"}
SERVICE = {"version": "2.0.0", "replicas": 3}
MESSAGING = {"user_service_version": "2.0.0", "config_revision": 7}


def make_config(
    directory: Path,
    broker: EmbeddedBroker,
    topic: str,
    *,
    group_id: str | None = None,
    max_batch: int = 500,
    lag_threshold: int = 100,
    reload_poll: str = "2s",
    bus_silence: str | None = None,
    state_path: Path | None = None,
    window: str = "2s",
    # Tansu holds a JoinGroup for half of it: short keeps joins quick; several processes on a
    # busy machine want longer, or a late heartbeat starts another rebalance.
    session_timeout: str = "1s",
    state_mode: str | None = None,
    kafka_extra: str = "",
    extra: str = "",
    http: str = "  listen: 127.0.0.1:0\n",
) -> Config:
    """A config file in `directory` (with its expectation folder), loaded like `sentinel run`."""
    expectations = directory / "expectations"
    expectations.mkdir(exist_ok=True)
    (expectations / "fast.yaml").write_text(FAST_EXPECTATION.replace("2s", window))
    group = group_id or f"watcher-test-{next(_groups)}"
    text = (
        f"expectations: {expectations}\n"
        f"schemas: {SHIPPED_SCHEMAS}\n"
        "kafka:\n"
        f"  bootstrap_servers: {broker.bootstrap_servers}\n"
        f"  topics: [{topic}]\n"
        f"  group_id: {group}\n"
        "  auto_offset_reset: earliest\n"
        f"  session_timeout: {session_timeout}\n" + kafka_extra + "http:\n" + http + "watch:\n"
        f"  max_batch: {max_batch}\n"
        f"  lag_threshold: {lag_threshold}\n"
        "  tick: 0.2s\n"
        f"  reload_poll: {reload_poll}\n"
        + (f"  bus_silence: {bus_silence}\n" if bus_silence else "")
        + ("state:\n" if state_path or state_mode else "")
        + (f"  path: {state_path}\n" if state_path else "")
        + (f"  mode: {state_mode}\n" if state_mode else "")
        + extra
    )
    path = directory / "config.yaml"
    path.write_text(text)
    return load_config(path)


class Findings:
    """The watcher's standard output, parsed: one dict per finding."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def write(self, text: str, /) -> int:
        self.items += [orjson.loads(line) for line in text.splitlines()]
        return len(text)

    def flush(self) -> None:
        pass

    def kinds(self) -> list[str]:
        return [item["kind"] for item in self.items]

    async def wait_kind(self, kind: str, timeout_s: float = 15) -> dict[str, Any]:
        await wait_for(lambda: kind in self.kinds(), timeout_s, what=f"a {kind} finding")
        return next(item for item in self.items if item["kind"] == kind)


async def wait_for(
    condition: Callable[[], bool], timeout_s: float = 15, what: str = "the condition"
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s}s for {what}")
        await asyncio.sleep(0.05)


class Process:
    """One `sentinel run` with its standard output and error in files."""

    def __init__(self, config: Path, directory: Path, name: str) -> None:
        self.out = directory / f"{name}.out"
        self.err = directory / f"{name}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "sentinel", "run", "--config", str(config)],
                stdout=out,
                stderr=err,
            )

    def findings(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.out.read_bytes().splitlines()]

    def kinds(self) -> list[str]:
        return [finding["kind"] for finding in self.findings()]

    def log_has(self, message: str) -> bool:
        return message in self.err.read_text()

    async def wait_ready(self) -> None:
        # The watcher logs "partitions assigned" once the group gave it the topic.
        await wait_for(lambda: self.log_has("partitions assigned"), 30, "partitions assigned")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.popen.send_signal(signum)
        return self.popen.wait(30)


def holding(process: Process) -> set[str]:
    """The partitions the process holds now, as its log says (the last rebalance's word)."""
    held: set[str] = set()
    for line in process.err.read_text().splitlines():
        entry = json.loads(line) if line.startswith("{") else {}
        if entry.get("message") == "partitions assigned":
            held = set(entry["partitions"])
        elif entry.get("message") == "partitions revoked":
            held = set()
    return held
