"""`sentinel demo` (what `make demo` runs): every rollout of the simulation says what it should."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from demo_support import Demo

from sentinel.alerting.settings_parser import parse_alerting
from sentinel.alerting.sinks.slack import SlackSettings
from sentinel.commands.demo_command import slack_section, tracing_section
from sentinel.config import load_config
from sentinel.configkit import Section

pytestmark = pytest.mark.broker


def test_the_demo_shows_the_four_rollouts_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    demo = Demo(tmp_path, "--speed", "120")
    try:
        demo.start()
        deadline = time.monotonic() + 60
        while demo.out.read_text().count("DEADLINE_EXCEEDED") < 2:
            assert time.monotonic() < deadline, demo.out.read_text()
            assert demo.process.poll() is None, demo.err.read_text()
            time.sleep(0.2)
        # The board asks who it is: the first line's user and password open it.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(demo.url + "api/v1/rollouts", timeout=10)
        refused.value.close()
        assert refused.value.code == 401
        rollout = demo.get_json("api/v1/rollouts/user-service-v2/r-complete")
        traced = [step["traceparent"] for step in rollout["steps"] if step.get("traceparent")]
        assert demo.interrupt() == 0  # what Ctrl-C sends
    finally:
        demo.kill()
    lines = demo.lines()
    assert lines[0].startswith("rollout-sentinel demo: open the status board at http://127.0.0.1:")
    assert (demo.user, len(demo.password)) == ("demo", 16)
    seen = {(line.split()[1], line.split()[2]) for line in lines[1:]}
    assert ("COMPLETED", "user-service-v2/r-complete") in seen
    assert ("STALL", "user-service-v2/r-silent") in seen
    # Where on-call goes next: the stalled rollout's trace.
    (silent,) = [line for line in lines if "STALL" in line and "r-silent" in line]
    assert re.search(r"  trace [0-9a-f]{32}$", silent), silent
    # The motivating incident: a producer's new schema, seen at its first event, then the stall.
    renamed = [line.split()[1] for line in lines if "user-service-v2/r-renamed" in line]
    assert renamed[:3] == ["SCHEMA_CHANGED", "SCHEMA_VIOLATION", "STALL"], lines
    assert "fails its consumers' schema" in demo.out.read_text()
    assert ("ROLLBACK", "user-service-v2/r-rollback") in seen
    assert ("ROLLED_BACK", "user-service-v2/r-rollback") in seen
    errors = demo.err.read_text()
    assert "Traceback" not in errors
    # Its services act in the rollout's deploy trace: every step's event says so.
    assert len(traced) == 3 and len({parent.split("-")[1] for parent in traced}) == 1, traced
    # What it kept stays after it stopped, where the banner and its last lines say.
    state = demo.state_file()
    assert state.is_file() and f"sentinel report --state {state}" in errors


def test_each_demo_run_has_its_own_password(tmp_path: Path) -> None:
    """Two runs, two passwords (the board's user may act: no password shared by every run)."""
    passwords = set()
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        demo = Demo(tmp_path / run, "--speed", "120", "--for", "1")
        try:
            passwords.add(demo.start().password)
            assert demo.process.wait(60) == 0
        finally:
            demo.kill()
    assert len(passwords) == 2


def test_the_demo_alerts_to_slack_when_a_token_and_channel_are_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    assert slack_section() == ""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_CHANNEL", "#rollouts-demo")
    monkeypatch.setenv("SLACK_BASE_URL", "http://127.0.0.1:9/api/")
    raw = yaml.safe_load(slack_section("http://127.0.0.1:9464"))
    settings = parse_alerting(Section(raw["alerting"], "alerting"))
    [slack] = settings.sinks
    assert isinstance(slack, SlackSettings)
    assert slack.default_channel == "#rollouts-demo"
    assert slack.base_url == "http://127.0.0.1:9/api/"
    # Each message's Open on board goes to its rollout's page on the demo's board.
    assert settings.dashboard_url == "http://127.0.0.1:9464/rollouts/{expectation}/{rollout}"


def test_the_demo_exports_spans_when_an_otlp_endpoint_is_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert tracing_section() == ""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    (tmp_path / "expectations").mkdir()
    (tmp_path / "schemas").mkdir()
    config = tmp_path / "sentinel.yaml"
    config.write_text(
        "expectations: expectations\nschemas: schemas\nkafka: {topics: [t]}\n" + tracing_section()
    )
    tracing = load_config(config).tracing
    assert tracing.otlp is not None and tracing.otlp.endpoint == "http://127.0.0.1:4318"
    assert tracing.trace_url == "http://localhost:16686/trace/{trace_id}"
