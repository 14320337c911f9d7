"""`sentinel demo` (and `make demo`): the whole product in one process tree, nothing to install.

An embedded Kafka-compatible broker, the live watcher with the shipped expectations, and a
simulated choreographed rollout: four rollouts of the user service, where one completes, one
stalls silently, one breaks its event schema and one rolls back. The shipped windows are in
minutes; the demo runs them `speed` times faster (60: minutes become seconds).

The board asks for a user and a password: `demo`, with a password made for each run and printed
on the first line beside the board's address. `demo` is an operator (`http.operators`), so the
person running the demo can acknowledge, snooze, note and abandon a rollout from its page; the
actions and the closed rollouts are kept in a state file in the demo's work directory, which
`sentinel report --state FILE` reads after the demo stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import shlex
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

import orjson

import sentinel
from sentinel.commands.demo_registry import DemoRegistry
from sentinel.commands.demo_script import TOPIC, simulate
from sentinel.config import load_config
from sentinel.core.engine.kinds import sentence, spec_of
from sentinel.core.errors import SentinelError
from sentinel.core.printable import printable
from sentinel.core.rules.expectations import Expectation
from sentinel.kafka.broker import EmbeddedBroker
from sentinel.local_port import free_port
from sentinel.runtime.logs import configure_logging
from sentinel.runtime.rule_reload import Rules, load_rules
from sentinel.runtime.wiring import build_watcher

EXPECTATION = "user-service-v2"
USER = "demo"  # the board's basic-auth user, an operator
PAGE = "/rollouts/{expectation}/{rollout}"  # a rollout's page on the board, for Slack's link


def run_demo(speed: float = 60.0, duration_s: float | None = None) -> int:
    """Run until Ctrl-C (or for `duration_s`); 0 after a clean stop, 2 when it cannot start."""
    try:
        return asyncio.run(_demo(speed, duration_s))
    except SentinelError as error:
        print(f"sentinel demo: {error}", file=sys.stderr)
        return 2


def shipped_expectations() -> Path:
    """The `expectations/` folder of the checkout (or of the current directory)."""
    for candidate in (
        Path.cwd() / "expectations",
        Path(sentinel.__file__).parents[1] / "expectations",
    ):
        if (candidate / "schemas").is_dir():
            return candidate
    raise SentinelError("no expectations/ folder with schemas/ found; run it from the checkout")


def scaled(rules: Rules, speed: float) -> Rules:
    """The same rules with every window and deadline divided by `speed`."""

    def faster(seconds: float | None) -> float | None:
        return None if seconds is None else seconds / speed

    def scale(exp: Expectation) -> Expectation:
        return dataclasses.replace(
            exp,
            deadline=faster(exp.deadline),
            steps=tuple(dataclasses.replace(s, within=faster(s.within)) for s in exp.steps),
            compensation=tuple(
                dataclasses.replace(c, within=faster(c.within)) for c in exp.compensation
            ),
        )

    return dataclasses.replace(rules, expectations=tuple(scale(e) for e in rules.expectations))


async def _demo(speed: float, duration_s: float | None) -> int:
    expectations = shipped_expectations()
    listen = f"127.0.0.1:{_free_port(9464)}"
    password = secrets.token_urlsafe(12)  # a new one each run: the board can act
    # First of all: the one thing a newcomer needs, before the broker's start takes seconds.
    print(
        f"rollout-sentinel demo: open the status board at http://{listen}/"
        f" (user {USER}, password {password})",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="sentinel-demo-"))  # 0700: the password is in it
    state = workdir / "state.db"
    broker = EmbeddedBroker(log_path=workdir / "broker.log")
    await broker.start_async()
    registry = DemoRegistry()
    try:
        await registry.start()
        await broker.create_topics([TOPIC], partitions=3)
        config_path = workdir / "config.yaml"
        config_path.write_text(
            f"expectations: {expectations}\n"
            f"schemas: {expectations / 'schemas'}\n"
            f"kafka:\n  bootstrap_servers: {broker.bootstrap_servers}\n"
            f"  topics: [{TOPIC}]\n  group_id: sentinel-demo\n  auto_offset_reset: earliest\n"
            "  session_timeout: 2s\n"
            f"http:\n  listen: {listen}\n"
            f"  basic_auth:\n    username: {USER}\n"
            f"    password: {orjson.dumps(password).decode()}\n"
            f"  operators: [{USER}]\n"
            f"state:\n  path: {orjson.dumps(str(state)).decode()}\n"
            "log:\n  level: warning\n"
            "watch:\n  tick: 0.5s\n"
            f"registry:\n  url: {registry.url}\n  latest_ttl: 5s\n"
            + slack_section(f"http://{listen}")
            + tracing_section()
        )
        config = load_config(config_path)
        configure_logging(config.log.level)
        watcher = build_watcher(
            config,
            out=_ReadableFindings(sys.stdout),
            rules_loader=lambda: scaled(load_rules(config.expectations, config.schemas), speed),
        )
        _banner(listen, expectations, speed, state)
        watching = asyncio.create_task(watcher.run())
        schemas = expectations / "schemas"
        await simulate(broker.bootstrap_servers, registry, schemas, speed, watching)
        if duration_s is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(watching), duration_s)
            watcher.stop()
        stopped = await watching
        print(
            f"  the demo's actions and closed rollouts are kept in {state}:\n"
            f"  {_sentinel()} report --state {shlex.quote(str(state))} --format md",
            file=sys.stderr,
            flush=True,
        )
        return stopped
    finally:
        await registry.stop()
        broker.stop()


class _ReadableFindings:
    """Findings as one readable line each instead of JSON, for a person watching the demo."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def write(self, text: str) -> int:
        for line in text.splitlines():
            finding = orjson.loads(line)
            # Keys, types and reasons come from the bus: shown, never obeyed by the terminal.
            self.out.write(printable(_describe(finding)) + "\n")
        return len(text)

    def flush(self) -> None:
        self.out.flush()


def _describe(finding: dict[str, Any]) -> str:
    """`10:14:00  STALL              user-service-v2/r-silent  <the kind's sentence>`."""
    kind = finding["kind"]
    where = "/".join(str(part) for part in (finding["expectation"], finding["rollout"]) if part)
    owner = f"  (owner {finding['owner']})" if finding.get("owner") else ""
    line = f"{str(finding['at'])[11:19]}  {kind.upper():<18} {where}  {sentence(finding)}{owner}"
    spec = spec_of(kind)
    if finding.get("trace_id") and spec is not None and not spec.good:
        # Where on-call goes next: the rollout's trace (a link when `tracing.trace_url` is set).
        line += f"  trace {finding.get('trace_url') or finding['trace_id']}"
    return line


def slack_section(board: str | None = None) -> str:
    """Alerts to a real Slack workspace when SLACK_BOT_TOKEN and SLACK_CHANNEL are set; with
    SLACK_SIGNING_SECRET too, their Acknowledge and Snooze buttons (the app's interactivity URL
    must reach the demo's /slack/actions). With the `board`'s address, each message links to
    its rollout's page there (Open on board)."""
    channel = os.environ.get("SLACK_CHANNEL")
    if not os.environ.get("SLACK_BOT_TOKEN") or not channel:
        return ""
    print(f"  alerts go to Slack channel {channel}", file=sys.stderr)
    base_url = os.environ.get("SLACK_BASE_URL")  # a proxy, if the network needs one
    return (
        "alerting:\n  slack:\n    token_env: SLACK_BOT_TOKEN\n"
        f"    default_channel: {orjson.dumps(channel).decode()}\n"
        + (f"    base_url: {orjson.dumps(base_url).decode()}\n" if base_url else "")
        + (
            "    signing_secret_env: SLACK_SIGNING_SECRET\n"
            if os.environ.get("SLACK_SIGNING_SECRET")
            else ""
        )
        + (f"  dashboard_url: {orjson.dumps(board + PAGE).decode()}\n" if board else "")
        + "  grouping:\n    window: 2s\n"
    )


def tracing_section() -> str:
    """Spans to a local collector when OTEL_EXPORTER_OTLP_ENDPOINT is set (Jaeger's or Tempo's
    OTLP port), with links to its UI (SENTINEL_TRACE_URL, by default Jaeger's on :16686)."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return ""
    link = os.environ.get("SENTINEL_TRACE_URL", "http://localhost:16686/trace/{trace_id}")
    print(f"  spans go to {os.environ['OTEL_EXPORTER_OTLP_ENDPOINT']}", file=sys.stderr)
    return f"tracing:\n  trace_url: {orjson.dumps(link).decode()}\n  otlp: {{}}\n"


def _banner(listen: str, expectations: Path, speed: float, state: Path) -> None:
    print(
        f"  embedded broker, topic {TOPIC}, expectations from {expectations}\n"
        f"  board: http://{listen}/   API: http://{listen}/api/v1/rollouts\n"
        f"  sign in as {USER} (password on the first line): on a rollout's page you may\n"
        "  acknowledge, snooze, note or abandon it; the state (actions, closed rollouts) is\n"
        f"  kept in {state}\n"
        f"  metrics: http://{listen}/metrics   ready: http://{listen}/readyz\n"
        f"  windows run {speed:g}x faster (minutes become seconds); Ctrl-C stops everything\n"
        "  a schema registry too: every record names the schema its producer wrote it with\n"
        "  four rollouts of user-service-v2: r-complete, r-silent (stalls), r-renamed (its\n"
        "  producer registers a new schema with a renamed field), r-rollback (rolls back).\n"
        "  Findings appear below as they happen:",
        file=sys.stderr,
        flush=True,
    )


def _sentinel() -> str:
    """How to call `sentinel` from where the demo was started: `make demo` leaves it in the
    virtual environment (`.venv/bin/sentinel`), not on the PATH."""
    beside = Path(sys.executable).with_name("sentinel")
    if not beside.is_file():
        return "sentinel"
    with contextlib.suppress(ValueError):
        return shlex.quote(str(beside.relative_to(Path.cwd())))
    return shlex.quote(str(beside))


def _free_port(preferred: int) -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
        return int(probe.getsockname()[1])
