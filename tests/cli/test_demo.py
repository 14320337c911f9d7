"""`sentinel demo` (what `make demo` runs): every rollout of the simulation says what it should."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sentinel.alerting.settings_parser import parse_alerting
from sentinel.alerting.sinks.slack import SlackSettings
from sentinel.commands.demo_command import slack_section
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
    # The motivating incident: a producer's new schema, seen at its first event, then the stall.
    renamed = [line.split()[1] for line in lines if "user-service-v2/r-renamed" in line]
    assert renamed[:3] == ["SCHEMA_CHANGED", "SCHEMA_VIOLATION", "STALL"], lines
    assert "fails its consumers' schema" in out.read_text()
    assert ("ROLLBACK", "user-service-v2/r-rollback") in seen
    assert ("ROLLED_BACK", "user-service-v2/r-rollback") in seen
    assert "Traceback" not in err.read_text()


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
