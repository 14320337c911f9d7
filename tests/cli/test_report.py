"""`sentinel report --state FILE` as a user runs it: the audit report of a state file's history,
in every format, and one clear line (exit 2) for a file that cannot be read."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from engine.helpers import MIN, T0, event, run, user_service

from sentinel.core.engine.engine import Engine
from sentinel.store.sqlite import SqliteStore


def sentinel(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sentinel", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    """A state file whose history holds r1 (completed) and r2 (rolled back after a stall)."""
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    try:
        run(
            Engine([user_service()]),
            [
                event("SchemaV2_Ready", T0, "r1", "e-1"),
                event("UserServiceV2_Running", T0 + 2 * MIN, "r1", "e-2"),
                event("MessagingService_Reconfigured", T0 + 3 * MIN, "r1", "e-3"),
                event("SchemaV2_Ready", T0 + MIN, "r2", "e-4"),
                event("Rollback_Initiated", T0 + 12 * MIN, "r2", "e-5"),
                event("Rollback_Complete", T0 + 14 * MIN, "r2", "e-6"),
            ],
            store=store,
        )
    finally:
        store.close()
    return path


def test_the_report_of_a_state_file_names_every_rollout_and_its_steps(state_file: Path) -> None:
    result = sentinel("report", "--state", str(state_file), "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["source"] == "history of state.db"
    [figures] = report["expectations"]
    assert (figures["rollouts"], figures["completed"], figures["rolled_back"]) == (2, 1, 1)
    assert figures["stalled"] == 1
    assert figures["most_stalled_step"]["step"] == "UserServiceV2_Running"
    first = report["rollouts"][0]
    assert [(s["step"], s["event_id"], s["source"]) for s in first["sequence"]] == [
        ("SchemaV2_Ready", "e-1", "/tests"),
        ("UserServiceV2_Running", "e-2", "/tests"),
        ("MessagingService_Reconfigured", "e-3", "/tests"),
    ]


@pytest.mark.parametrize("fmt", ["html", "md", "csv"])
def test_every_format_is_written_to_the_output_file(
    state_file: Path, tmp_path: Path, fmt: str
) -> None:
    output = tmp_path / f"report.{fmt}"
    result = sentinel(
        "report", "--state", str(state_file), "--format", fmt, "--output", str(output)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "r2" in output.read_text()


def test_the_period_keeps_the_rollouts_opened_in_it(state_file: Path) -> None:
    result = sentinel(
        "report", "--state", str(state_file), "--format", "json",
        "--from", "2026-11-25T10:00:30Z", "--to", "2026-11-26T00:00:00Z",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [r["rollout"] for r in json.loads(result.stdout)["rollouts"]] == ["r2"]


def test_a_missing_state_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = sentinel("report", "--state", str(tmp_path / "nowhere.db"))
    assert result.returncode == 2
    assert result.stderr == f"sentinel: {tmp_path / 'nowhere.db'}: no such state file\n"


def test_a_state_file_from_before_the_history_says_how_to_upgrade_it(state_file: Path) -> None:
    with sqlite3.connect(state_file) as raw:
        raw.execute("UPDATE schema_version SET version = 2")
    raw.close()
    result = sentinel("report", "--state", str(state_file))
    assert result.returncode == 2
    assert "run `sentinel run` on it once" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_report_needs_a_state_file_or_a_log() -> None:
    result = sentinel("report")
    assert result.returncode == 2
    assert "one of the arguments --state --log is required" in result.stderr


def test_a_report_of_a_log_reads_standard_input_and_a_run_config(tmp_path: Path) -> None:
    """`--log -`, as `replay -` and `learn -` read; `--config` for what `sentinel run` reads."""
    shipped = Path(__file__).resolve().parents[2] / "expectations"
    config = tmp_path / "sentinel.yaml"
    config.write_text(
        f"expectations: {shipped / 'user-service-v2.yaml'}\nschemas: {shipped / 'schemas'}\n"
        "kafka:\n  topics: [rollout.events]\n"
    )
    log = (shipped / "examples" / "rollouts.jsonl").read_text()
    result = subprocess.run(
        [sys.executable, "-m", "sentinel", "report", "--log", "-", "--config", str(config),
         "--format", "json"],
        input=log, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["source"] == "replay of standard input"
    assert [figures["expectation"] for figures in report["expectations"]] == ["user-service-v2"]
