"""`sentinel check`, `replay` and `graph` run as a user runs them: a subprocess, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPECTATIONS = ROOT / "expectations"
SCHEMAS = EXPECTATIONS / "schemas"
EXAMPLE_LOG = EXPECTATIONS / "examples" / "rollouts.jsonl"


def sentinel(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sentinel", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        check=False,
    )


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr


def test_check_accepts_the_shipped_expectations_and_schemas() -> None:
    result = sentinel("check", "--schemas", str(SCHEMAS), str(EXPECTATIONS))
    assert result.returncode == 0, result.stderr
    assert "ok: 2 expectation(s)" in result.stderr


def test_check_refuses_a_bad_file_with_its_line_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: sentinel/v1\nkind: Expectation\nmetadata:\n  name: x\n"
        "spec:\n  correlate: data.id\n  steps:\n    - event: A\n      within: soon\n"
    )
    result = sentinel("check", str(bad))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{bad}:9: ")
    assert "within" in result.stderr
    assert_no_traceback(result)


def test_check_warns_about_a_step_that_can_never_be_missing(tmp_path: Path) -> None:
    lonely = tmp_path / "lonely.yaml"
    lonely.write_text(
        "apiVersion: sentinel/v1\nkind: Expectation\nmetadata:\n  name: x\n"
        "spec:\n  correlate: data.id\n  steps:\n    - event: A\n"
    )
    result = sentinel("check", str(lonely))
    assert result.returncode == 0
    assert "warning" in result.stderr and "never be reported missing" in result.stderr


def test_check_with_bad_usage_exits_2() -> None:
    result = sentinel("check")
    assert result.returncode == 2
    assert_no_traceback(result)


def test_replay_of_the_example_log_shows_every_finding_kind_and_exits_1() -> None:
    result = sentinel(
        "replay", "--expectations", str(EXPECTATIONS), "--schemas", str(SCHEMAS),
        "--until", "2026-11-25T12:00:00Z", str(EXAMPLE_LOG),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    findings = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = {finding["kind"] for finding in findings}
    assert kinds == {
        "stall", "recovered", "out_of_order", "deadline_exceeded", "completed", "rollback",
        "rolled_back", "schema_violation", "unregistered_event", "uncorrelated", "malformed",
    }  # fmt: skip
    times = [finding["at"] for finding in findings]
    assert times == sorted(times), "findings are written in clock order"


def test_replay_reads_standard_input_and_a_clean_log_exits_0() -> None:
    log = "\n".join(
        json.dumps({"type": t, "id": t, "time": f"2026-11-25T10:0{i}:00Z",
                    "data": {"rollout_id": "r1", **data}, "specversion": "1.0", "source": "/t"})
        for i, (t, data) in enumerate([
            ("SchemaV2_Ready", {"schema_version": "2", "migration_id": "m"}),
            ("UserServiceV2_Running", {"version": "2", "replicas": 1}),
            ("MessagingService_Reconfigured",
             {"user_service_version": "2", "config_revision": 1}),
        ])
    )  # fmt: skip
    result = sentinel(
        "replay", "--expectations", str(EXPECTATIONS / "user-service-v2.yaml"),
        "--schemas", str(SCHEMAS), "-", stdin=log,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["kind"] for line in result.stdout.splitlines()] == ["completed"]


def test_replay_with_a_run_config_judges_as_run_does(tmp_path: Path) -> None:
    """`--config` takes the expectations, schemas, engine and limits of `sentinel run`'s file:
    here a bound of one open rollout, which a replay without it would not know."""
    config = tmp_path / "sentinel.yaml"
    config.write_text(
        f"expectations: {EXPECTATIONS / 'user-service-v2.yaml'}\nschemas: {SCHEMAS}\n"
        "kafka:\n  topics: [rollout.events]\n"
        "engine:\n  closed_retention: 1h\nlimits:\n  open_rollouts: 1\n"
    )
    log = "\n".join(
        json.dumps({"type": "SchemaV2_Ready", "id": f"s{n}", "source": "/t", "specversion": "1.0",
                    "time": "2026-11-25T10:00:00Z",
                    "data": {"rollout_id": f"r{n}", "schema_version": "2", "migration_id": "m"}})
        for n in range(3)
    )  # fmt: skip
    judged = sentinel("replay", "--config", str(config), "-", stdin=log)
    assert judged.returncode == 1, judged.stderr
    kinds = [json.loads(line)["kind"] for line in judged.stdout.splitlines()]
    assert kinds == ["capacity"]
    plain = sentinel(
        "replay", "--expectations", str(EXPECTATIONS / "user-service-v2.yaml"),
        "--schemas", str(SCHEMAS), "-", stdin=log,
    )  # fmt: skip
    assert [json.loads(line)["kind"] for line in plain.stdout.splitlines()] == []
    assert_no_traceback(judged)


def test_replay_text_format_is_a_timeline_per_rollout() -> None:
    result = sentinel(
        "replay", "--format", "text", "--expectations", str(EXPECTATIONS),
        "--schemas", str(SCHEMAS), str(EXAMPLE_LOG),
    )  # fmt: skip
    assert result.returncode == 1
    assert "user-service-v2 / r-1002  OPEN" in result.stdout
    assert "MISSING  UserServiceV2_Running" in result.stdout
    assert "user-service-v2 / r-1005  ROLLED BACK" in result.stdout
    assert "MALFORMED RECORD a record from line" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--until", "tomorrow"], "--until 'tomorrow' is not an RFC 3339 time"),
        (["missing.jsonl"], "cannot read missing.jsonl"),
    ],
)
def test_replay_with_bad_usage_exits_2_with_a_message(args: list[str], message: str) -> None:
    extra = args if args[0] != "--until" else [*args, str(EXAMPLE_LOG)]
    result = sentinel(
        "replay", "--expectations", str(EXPECTATIONS), "--schemas", str(SCHEMAS), *extra
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert_no_traceback(result)


def test_replay_with_a_bad_schema_directory_exits_2(tmp_path: Path) -> None:
    (tmp_path / "Broken.json").write_text("{not json")
    result = sentinel(
        "replay", "--expectations", str(EXPECTATIONS), "--schemas", str(tmp_path), str(EXAMPLE_LOG)
    )
    assert result.returncode == 2
    assert "Broken.json" in result.stderr
    assert_no_traceback(result)


def test_graph_draws_mermaid_with_windows_owners_and_dashed_compensations() -> None:
    result = sentinel("graph", str(EXPECTATIONS / "user-service-v2.yaml"))
    assert result.returncode == 0
    assert result.stdout.startswith("```mermaid")
    assert "-->|within 10m|" in result.stdout
    assert "owner: team-users" in result.stdout
    assert "-.->|within 15m|" in result.stdout


def test_graph_draws_dot() -> None:
    result = sentinel("graph", "--format", "dot", str(EXPECTATIONS))
    assert result.returncode == 0
    assert result.stdout.startswith("digraph expectations {")
    assert 'style=dashed, label="within 15m"' in result.stdout
