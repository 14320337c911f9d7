"""`sentinel alerts test` as a user runs it (a subprocess), against fake sinks over real HTTP:
each sink gets one alert marked as a test, through its own plan and transport, and the command
says what each answered; a sink that refuses is a FAILED line and exit 1, never a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from alerting.fakes import FakeReceiver, FakeSlack, Request, rate_limited, server_error
from alerting.helpers import documented_settings

from sentinel.alerting.drill import TEST_TITLE, drill_finding, plan_drill
from sentinel.alerting.sinks import SINKS, sink_of
from sentinel.core.timefmt import parse_rfc3339
from sentinel.local_port import free_port

SHIPPED = Path(__file__).resolve().parents[2] / "expectations"
TOKEN_ENV = "TEST_ALERTS_SLACK_TOKEN"


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str

    def lines(self) -> dict[str, tuple[str, str]]:
        """Each output line: sink name -> (OK or FAILED, what it answered)."""
        found = {}
        for line in self.stdout.splitlines():
            name, state, answer = re.split(r"\s{2,}", line.strip(), maxsplit=2)
            found[name] = (state, answer)
        return found


async def sentinel(folder: Path, *args: str, env: dict[str, str] | None = None) -> Ran:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sentinel",
        *args,
        cwd=folder,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    ran = Ran(process.returncode, out.decode(), err.decode())
    assert "Traceback" not in ran.stderr, ran.stderr
    return ran


def write_config(folder: Path, alerting: str | None) -> Path:
    config = folder / "sentinel.yaml"
    config.write_text(
        f"expectations: {SHIPPED}\n"
        f"schemas: {SHIPPED / 'schemas'}\n"
        "kafka: {topics: [rollout.events]}\n"
        "state: {path: state.db}\n" + ("" if alerting is None else f"alerting:\n{alerting}")
    )
    return config


def every_sink(slack: FakeSlack, receiver: FakeReceiver) -> str:
    return (
        "  slack:\n"
        f"    token_env: {TOKEN_ENV}\n"
        f"    base_url: {slack.base_url}\n"
        "    default_channel: '#rollouts'\n"
        "    channels: {team-identity: '#identity-oncall'}\n"
        "  slack_webhook:\n"
        f"    url: {receiver.url}/slack-hook\n"
        "  webhooks:\n"
        f"    - url: {receiver.url}/hook\n"
        "      secret: s3cret\n"
        "  alertmanager:\n"
        f"    url: {receiver.url}\n"
    )


@pytest.fixture
async def slack_api() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[FakeReceiver]:
    server = FakeReceiver(secret="s3cret")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def failing() -> AsyncIterator[FakeReceiver]:
    server = FakeReceiver()
    await server.start()
    yield server
    await server.stop()


def closed_port() -> int:
    return free_port()


async def test_each_sink_gets_one_alert_marked_as_a_test_and_says_what_it_answered(
    tmp_path: Path, slack_api: FakeSlack, receiver: FakeReceiver
) -> None:
    config = write_config(tmp_path, every_sink(slack_api, receiver))
    before = time.time()

    ran = await sentinel(
        tmp_path, "alerts", "test", "--config", str(config), env={TOKEN_ENV: slack_api.token}
    )

    assert ran.returncode == 0, ran.stdout + ran.stderr
    (posted,) = slack_api.messages
    assert ran.lines() == {
        "slack": ("OK", f"ts {posted.ts} in C0ROLLOUTS"),
        "slack_webhook": ("OK", "HTTP 200 ok"),
        "webhook": ("OK", "HTTP 204"),
        "alertmanager": ("OK", "HTTP 200"),
    }
    # Slack: one message in the default channel, its words the test's, not a thread reply.
    assert posted.channel == "C0ROLLOUTS" and posted.thread_ts is None
    assert posted.text.startswith(TEST_TITLE)
    assert "needs no action" in posted.text
    assert posted.blocks[0]["text"]["text"] == f"🧪 {TEST_TITLE}"
    # The incoming webhook: one message, the same words.
    (hooked,) = receiver.served("/slack-hook")
    assert hooked.json["text"].startswith(TEST_TITLE)
    # The generic webhook: the finding's JSON, signed (the receiver checks), with "test": true.
    (posted_json,) = receiver.served("/hook", 204)
    body = posted_json.json
    assert body["test"] is True
    assert body["expectation"] == TEST_TITLE and body["reason"].startswith(TEST_TITLE)
    assert posted_json.headers["X-Sentinel-Signature"].startswith("sha256=")
    # Alertmanager: one alert labelled test="true", ending by itself within minutes.
    (alerted,) = receiver.served("/api/v2/alerts")
    (alert,) = alerted.json
    assert alert["labels"]["test"] == "true"
    assert alert["annotations"]["summary"] == TEST_TITLE
    ends = parse_rfc3339(alert["endsAt"])
    assert before + 60 < ends < time.time() + 600
    assert len(receiver.requests) == 3
    # Nothing is kept: the state file is not even created.
    assert not (tmp_path / "state.db").exists()


async def test_refusals_are_failed_lines_with_the_reason_and_exit_1(
    tmp_path: Path, slack_api: FakeSlack, failing: FakeReceiver
) -> None:
    failing.fail_next(server_error())
    alerting = (
        "  slack:\n"
        f"    token_env: {TOKEN_ENV}\n"
        f"    base_url: {slack_api.base_url}\n"
        "    default_channel: '#rollouts'\n"
        "  webhooks:\n"
        f"    - url: {failing.url}/hook\n"
        "  alertmanager:\n"
        f"    url: http://127.0.0.1:{closed_port()}\n"
    )
    config = write_config(tmp_path, alerting)

    ran = await sentinel(
        tmp_path, "alerts", "test", "--config", str(config), env={TOKEN_ENV: "xoxb-revoked"}
    )

    assert ran.returncode == 1, ran.stdout + ran.stderr
    lines = ran.lines()
    assert lines["slack"][0] == "FAILED" and lines["slack"][1].startswith("invalid_auth")
    assert lines["webhook"] == ("FAILED", "HTTP 500 Internal Server Error")
    assert lines["alertmanager"][0] == "FAILED"
    assert lines["alertmanager"][1].startswith("cannot reach the sink")
    assert slack_api.messages == []
    assert len(failing.requests) == 1  # one attempt: no retry


async def test_a_rate_limit_fails_once_and_says_when_to_try_again(
    tmp_path: Path, failing: FakeReceiver
) -> None:
    failing.fail_next(rate_limited(30))
    config = write_config(tmp_path, f"  webhooks:\n    - url: {failing.url}/hook\n")

    ran = await sentinel(tmp_path, "alerts", "test", "--config", str(config))

    assert ran.returncode == 1
    state, answer = ran.lines()["webhook"]
    assert state == "FAILED"
    assert answer.startswith("HTTP 429") and answer.endswith("retry after 30s")
    assert len(failing.requests) == 1


async def test_slack_rate_limiting_fails_once_with_its_retry_after(
    tmp_path: Path, slack_api: FakeSlack
) -> None:
    slack_api.fail_next_in("#rollouts", rate_limited(7))
    alerting = (
        "  slack:\n"
        f"    token_env: {TOKEN_ENV}\n"
        f"    base_url: {slack_api.base_url}\n"
        "    default_channel: '#rollouts'\n"
    )
    config = write_config(tmp_path, alerting)

    ran = await sentinel(
        tmp_path, "alerts", "test", "--config", str(config), env={TOKEN_ENV: slack_api.token}
    )

    assert ran.returncode == 1
    assert ran.lines() == {"slack": ("FAILED", "Slack rate limit (429); retry after 7s")}
    assert len(slack_api.requests) == 1 and slack_api.messages == []


class SlowReceiver(FakeReceiver):
    """Answers only once released: later than the sink waits."""

    def __init__(self) -> None:
        super().__init__()
        self.released = asyncio.Event()

    async def answer(self, path: str, request: Request) -> web.StreamResponse:
        await asyncio.wait_for(self.released.wait(), timeout=30)
        return await super().answer(path, request)


async def test_a_sink_slower_than_its_timeout_fails_after_the_timeout(tmp_path: Path) -> None:
    slow = SlowReceiver()
    await slow.start()
    try:
        config = write_config(
            tmp_path, f"  webhooks:\n    - url: {slow.url}/hook\n      timeout: 1s\n"
        )
        started = time.monotonic()

        ran = await sentinel(tmp_path, "alerts", "test", "--config", str(config))

        assert time.monotonic() - started < 20  # 1s and the start of a process, not 30s
    finally:
        slow.released.set()
        await slow.stop()
    assert ran.returncode == 1
    state, answer = ran.lines()["webhook"]
    assert state == "FAILED" and answer.startswith("cannot reach the sink")


async def test_sink_tests_only_the_sink_it_names(
    tmp_path: Path, slack_api: FakeSlack, receiver: FakeReceiver
) -> None:
    config = write_config(tmp_path, every_sink(slack_api, receiver))

    ran = await sentinel(
        tmp_path,
        "alerts",
        "test",
        "--config",
        str(config),
        "--sink",
        "webhook",
        env={TOKEN_ENV: slack_api.token},
    )

    assert ran.returncode == 0, ran.stderr
    assert ran.lines() == {"webhook": ("OK", "HTTP 204")}
    assert [request.path for request in receiver.requests] == ["/hook"]
    assert slack_api.messages == []


async def test_an_unknown_sink_exits_2_naming_the_configured_ones(
    tmp_path: Path, slack_api: FakeSlack, receiver: FakeReceiver
) -> None:
    config = write_config(tmp_path, every_sink(slack_api, receiver))

    ran = await sentinel(
        tmp_path,
        "alerts",
        "test",
        "--config",
        str(config),
        "--sink",
        "pager",
        env={TOKEN_ENV: slack_api.token},
    )

    assert ran.returncode == 2
    assert ran.stdout == ""
    assert "'pager' is not a configured sink" in ran.stderr
    assert "slack, slack_webhook, webhook, alertmanager" in ran.stderr
    assert receiver.requests == [] and slack_api.messages == []


async def test_a_config_without_alerting_has_nothing_to_test_and_exits_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, None)

    ran = await sentinel(tmp_path, "alerts", "test", "--config", str(config))

    assert ran.returncode == 2
    assert "nothing to test" in ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1


async def test_a_config_error_is_one_line_and_exit_2(
    tmp_path: Path, receiver: FakeReceiver
) -> None:
    config = write_config(
        tmp_path,
        f"  webhooks:\n    - url: {receiver.url}/hook\n      secret_env: UNSET_SENTINEL_SECRET\n",
    )

    ran = await sentinel(tmp_path, "alerts", "test", "--config", str(config))

    assert ran.returncode == 2
    assert len(ran.stderr.strip().splitlines()) == 1
    assert "UNSET_SENTINEL_SECRET" in ran.stderr
    assert receiver.requests == []


@pytest.mark.parametrize("sink", SINKS, ids=lambda sink: sink.key)
def test_every_sink_plans_a_test_alert_it_can_send(
    sink: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Generic over SINKS: a sink added later gets a test alert from its own plan, marked by
    its `mark_test` (or as planned), as JSON its transport can send."""
    settings = documented_settings(monkeypatch, tmp_path)
    configured = next((target for target in settings.sinks if sink_of(target) is sink), None)
    if configured is None:  # tests/alerting/test_sinks.py fails for a sink left out of the docs
        pytest.skip(f"{sink.key} is not in docs/alerting.md's example yet")
    finding = drill_finding(time.time())

    plan = plan_drill(
        sink.plan, sink.destination(configured, finding), finding, settings, configured.name
    )
    items = [sink.mark_test(configured, item, finding.at) for item in plan.items]

    assert items, f"{sink.name} planned nothing for the test alert"
    for item in items:
        assert TEST_TITLE in json.dumps(item.payload, ensure_ascii=False)
