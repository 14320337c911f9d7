"""The alerting rules: promtool accepts them, every alert has unit tests, and they bite."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from .tools import ALERTING, RULE_TESTS, RULES, promtool, run

RUNBOOK = ALERTING / "runbook.md"
RUNBOOK_BASE = "https://github.com/rollout-sentinel/rollout-sentinel/blob/main/alerting/runbook.md"


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def unit_test_files() -> list[Path]:
    return sorted(RULE_TESTS.glob("*.yaml"))


def test_promtool_accepts_the_rules_file() -> None:
    result = run(promtool(), "check", "rules", str(RULES))
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_the_rule_unit_tests_pass() -> None:
    result = run(promtool(), "test", "rules", *map(str, unit_test_files()), cwd=RULE_TESTS)
    assert result.stdout.count("SUCCESS") == len(unit_test_files())


def test_every_alert_has_a_unit_test_where_it_fires_and_one_where_it_does_not() -> None:
    fires: set[str] = set()
    stays_quiet: set[str] = set()
    for path in unit_test_files():
        document = yaml.safe_load(path.read_text())
        assert document["rule_files"] == ["../prometheus-rules.yaml"], path
        for case in document["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check["exp_alerts"] else stays_quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - fires == set(), "alerts never seen firing in alerting/tests"
    assert names - stays_quiet == set(), "alerts never seen staying quiet in alerting/tests"
    assert (fires | stays_quiet) - names == set(), "unit tests for alerts that do not exist"


def test_every_alert_has_a_severity_a_summary_a_description_and_a_runbook() -> None:
    headings = {
        line.lstrip("#").strip().lower()
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("#")
    }
    for alert in alerts():
        name = alert["alert"]
        assert re.fullmatch(r"Sentinel[A-Z][A-Za-z]+", name), name
        assert alert["labels"]["severity"] in {"critical", "warning", "info"}, name
        annotations = alert["annotations"]
        assert annotations["summary"] and annotations["description"], name
        assert annotations["runbook_url"] == f"{RUNBOOK_BASE}#{name.lower()}", name
        assert name.lower() in headings, f"{RUNBOOK} has no section for {name}"


def test_alerts_select_the_sentinel_job_by_the_name_the_chart_gives_it() -> None:
    jobs = set(re.findall(r'job="([^"]*)"', RULES.read_text()))
    assert jobs == {"rollout-sentinel"}


def test_the_unit_tests_catch_a_counter_whose_first_increment_is_missed(
    tmp_path: Path,
) -> None:
    # The labelled counters are born at 1; a bare increase() would never see those stalls.
    naive = re.sub(
        r"\(\s*(\w+) unless \1 offset 15m\s*\)\s*or\s*", "", RULES.read_text(), flags=re.S
    )
    assert naive != RULES.read_text()
    (tmp_path / "prometheus-rules.yaml").write_text(naive)
    tests = tmp_path / "tests"
    shutil.copytree(RULE_TESTS, tests)
    result = run(promtool(), "test", "rules", "rollouts.test.yaml", cwd=tests, check=False)
    assert result.returncode != 0
    assert "SentinelRolloutStalled" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("pattern", "replacement", "alert"),
    [
        ("for: 5m", "for: 0m", "SentinelDown"),
        ('kind="stall"', 'kind="completed"', "SentinelRolloutStalled"),
        ("> 1000", "> 10000", "SentinelConsumerLagGrowing"),
    ],
)
def test_the_unit_tests_catch_a_changed_threshold(
    tmp_path: Path, pattern: str, replacement: str, alert: str
) -> None:
    text = RULES.read_text()
    assert pattern in text
    (tmp_path / "prometheus-rules.yaml").write_text(text.replace(pattern, replacement, 1))
    tests = tmp_path / "tests"
    shutil.copytree(RULE_TESTS, tests)
    files = [path.name for path in sorted(tests.glob("*.yaml"))]
    result = run(promtool(), "test", "rules", *files, cwd=tests, check=False)
    assert result.returncode != 0
    assert f"alertname: {alert}" in result.stdout + result.stderr
