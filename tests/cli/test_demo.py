"""`sentinel demo` (what `make demo` runs): every rollout of the simulation says what it should."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from sentinel.alerting.settings_parser import parse_alerting
from sentinel.alerting.sinks.slack import SlackSettings
from sentinel.commands.demo_command import slack_section, tracing_section
from sentinel.config import load_config
from sentinel.configkit import Section

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_shows_the_four_rollouts_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    out, err = tmp_path / "demo.out", tmp_path / "demo.err"
    with out.open("wb") as sink, err.open("wb") as errors:
        demo = subprocess.Popen(
            [sys.executable, "-m", "sentinel", "demo", "--speed", "120"],
            cwd=ROOT, stdout=sink, stderr=errors,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        try:
            while out.read_text().count("DEADLINE_EXCEEDED") < 2:
                assert time.monotonic() < deadline, out.read_text()
                assert demo.poll() is None, err.read_text()
                time.sleep(0.2)
            board = out.read_text().splitlines()[0].split()[-1]
            traced = _steps_traceparents(board + "api/v1/rollouts/user-service-v2/r-complete")
            demo.send_signal(signal.SIGINT)  # what Ctrl-C sends
            assert demo.wait(30) == 0
        finally:
            if demo.poll() is None:
                demo.kill()
    lines = out.read_text().splitlines()
    assert lines[0].startswith("rollout-sentinel demo: open the status board at http://127.0.0.1:")
    seen = {(line.split()[1], line.split()[2]) for line in lines}
    assert ("COMPLETED", "user-service-v2/r-complete") in seen
    assert ("STALL", "user-service-v2/r-silent") in seen
    # Where on-call goes next: the stalled rollout's trace.
    (silent,) = [line for line in lines if "STALL" in line and "r-silent" in line]
    assert re.search(r"  trace [0-9a-f]{32}$", silent), silent
    # The motivating incident: a producer's new schema, seen at its first event, then the stall.
    renamed = [line.split()[1] for line in lines if "user-service-v2/r-renamed" in line]
    assert renamed[:3] == ["SCHEMA_CHANGED", "SCHEMA_VIOLATION", "STALL"], lines
    assert "fails its consumers' schema" in out.read_text()
    assert ("ROLLBACK", "user-service-v2/r-rollback") in seen
    assert ("ROLLED_BACK", "user-service-v2/r-rollback") in seen
    assert "Traceback" not in err.read_text()
    # Its services act in the rollout's deploy trace: every step's event says so.
    assert len(traced) == 3 and len({parent.split("-")[1] for parent in traced}) == 1, traced


def _steps_traceparents(url: str) -> list[str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        rollout = json.load(response)
    return [step["traceparent"] for step in rollout["steps"] if step.get("traceparent")]


def test_the_demo_alerts_to_slack_when_a_token_and_channel_are_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    assert slack_section() == ""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_CHANNEL", "#rollouts-demo")
    monkeypatch.setenv("SLACK_BASE_URL", "http://127.0.0.1:9/api/")
    raw = yaml.safe_load(slack_section())
    settings = parse_alerting(Section(raw["alerting"], "alerting"))
    [slack] = settings.sinks
    assert isinstance(slack, SlackSettings)
    assert slack.default_channel == "#rollouts-demo"
    assert slack.base_url == "http://127.0.0.1:9/api/"


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
