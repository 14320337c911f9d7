"""The audit report of the shipped example log: the figures per expectation, every rollout's
sequence, the period, each format, and `sentinel report --log` end to end."""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from sentinel.commands.report_command import add_report_arguments, run_report
from sentinel.core.errors import UsageError
from sentinel.core.timefmt import parse_rfc3339
from sentinel.status.period import Period
from sentinel.status.report import build_report, percentile, render_report

from .helpers import EXAMPLE_LOG, ROOT, Example


def figures(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(entry for entry in report["expectations"] if entry["expectation"] == name)


def test_the_example_counts_rollouts_outcomes_and_stalls(example: Example) -> None:
    report = build_report(example.rollouts, Period())
    user = figures(report, "user-service-v2")
    assert (user["rollouts"], user["completed"], user["rolled_back"]) == (6, 3, 1)
    assert (user["stalled"], user["open"]) == (3, 2)
    game = figures(report, "game-feature-weekly")
    assert (game["rollouts"], game["completed"], game["stalled"]) == (1, 1, 0)


def test_the_example_durations_have_a_p50_and_a_p95(example: Example) -> None:
    user = figures(build_report(example.rollouts, Period()), "user-service-v2")
    assert user["durations_s"] == [240.0, 540.0, 840.0]  # r-1004, r-1001, r-1003
    assert user["duration_p50_s"] == 540.0
    assert user["duration_p95_s"] == 840.0
    game = figures(build_report(example.rollouts, Period()), "game-feature-weekly")
    assert game["duration_p50_s"] == 2700.0


def test_the_step_that_stalls_most_is_named_with_its_owner(example: Example) -> None:
    user = figures(build_report(example.rollouts, Period()), "user-service-v2")
    assert user["most_stalled_step"] == {
        "step": "UserServiceV2_Running",
        "owner": "team-users",
        "stalls": 3,
    }
    assert (
        figures(build_report(example.rollouts, Period()), "game-feature-weekly")[
            "most_stalled_step"
        ]
        is None
    )


def test_each_rollout_lists_its_steps_in_the_order_they_were_seen(example: Example) -> None:
    report = build_report(example.rollouts, Period())
    out_of_order = next(entry for entry in report["rollouts"] if entry["rollout"] == "r-1004")
    assert [(step["step"], step["event_id"]) for step in out_of_order["sequence"]] == [
        ("SchemaV2_Ready", "e-04"),
        ("MessagingService_Reconfigured", "e-06"),
        ("UserServiceV2_Running", "e-09"),
    ]
    assert out_of_order["sequence"][0]["source"] == "/deploy/r-1004"
    kinds = [finding["kind"] for finding in out_of_order["findings"]]
    assert kinds == ["out_of_order", "completed"]


def test_rollouts_come_in_opening_order(example: Example) -> None:
    report = build_report(example.rollouts, Period())
    keys = [entry["rollout"] for entry in report["rollouts"]]
    assert keys == ["2026-w48", "r-1001", "r-1002", "r-1003", "r-1004", "r-1005", "r-1006"]


def test_the_period_keeps_rollouts_opened_in_it(example: Example) -> None:
    period = Period(parse_rfc3339("2026-11-25T10:01:00Z"), parse_rfc3339("2026-11-25T10:04:00Z"))
    report = build_report(example.rollouts, period)
    assert [entry["rollout"] for entry in report["rollouts"]] == ["r-1002", "r-1003", "r-1004"]
    assert report["period"] == {"from": "2026-11-25T10:01:00Z", "to": "2026-11-25T10:04:00Z"}


def test_a_period_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="ends before"):
        Period(10.0, 5.0)


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [([], 0.5, None), ([7.0], 0.95, 7.0), ([1.0, 2.0, 3.0, 4.0], 0.5, 2.0), ([4.0, 1.0], 1, 4.0)],
)
def test_percentiles_are_nearest_rank(
    values: list[float], share: float, expected: float | None
) -> None:
    assert percentile(values, share) == expected


def test_the_csv_has_a_header_and_one_row_per_step_of_each_rollout(example: Example) -> None:
    text = render_report(build_report(example.rollouts, Period()), "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 5 + 6 * 3 + 1  # game steps, user steps, r-1005's compensation
    stalled = [row for row in rows if row["stalled"] == "yes"]
    assert {row["rollout"] for row in stalled} == {"r-1002", "r-1003", "r-1006"}


def test_the_json_is_the_report_itself(example: Example) -> None:
    report = build_report(example.rollouts, Period(), source="a log")
    assert orjson.loads(render_report(report, "json")) == report


def test_the_markdown_has_the_figures_table(example: Example) -> None:
    text = render_report(build_report(example.rollouts, Period()), "md")
    assert "| user-service-v2 | 6 | 3 | 1 | 3 | 2 | 9m | 14m |" in text
    assert "UserServiceV2\\_Running (team-users): 3 stall(s)" in text


def test_the_html_is_self_contained(example: Example) -> None:
    html = render_report(build_report(example.rollouts, Period()), "html")
    assert "<script" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html
    assert "@page { size: A4" in html
    assert html.count('<svg class="chart"') == 3  # two duration charts, one of stalls


def parse_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_report_arguments(parser)
    return parser.parse_args(argv)


def test_report_from_a_log_writes_the_chosen_format(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    args = parse_args(
        "--log", str(EXAMPLE_LOG), "--expectations", str(ROOT / "expectations"),
        "--schemas", str(ROOT / "expectations" / "schemas"),
        "--to", "2026-11-25T10:21:00Z", "--format", "json", "--output", str(out),
    )  # fmt: skip
    assert run_report(args) == 0
    report = orjson.loads(out.read_bytes())
    assert report["source"] == "replay of rollouts.jsonl"
    assert len(report["rollouts"]) == 7


def test_report_from_the_state_reads_the_history_it_is_given(
    tmp_path: Path, example: Example
) -> None:
    read: list[Path] = []

    def history(path: Path) -> list[dict[str, Any]]:
        read.append(path)
        return example.rollouts

    out = tmp_path / "report.md"
    args = parse_args("--state", "state.db", "--format", "md", "--output", str(out))
    assert run_report(args, history) == 0
    assert read == [Path("state.db")]
    assert "| user-service-v2 | 6 |" in out.read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--log", "x.jsonl"), "--expectations"),
        (("--state", "s.db"), "not supported"),
        (("--state", "s.db", "--schemas", "d"), "go with --log"),
        (("--log", "x", "--from", "monday"), "--from 'monday'"),
        (
            ("--state", "s", "--from", "2026-11-25T10:00:00Z", "--to", "2026-11-25T09:00:00Z"),
            "ends",
        ),
    ],
)
def test_report_mistakes_are_usage_errors(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        run_report(parse_args(*argv))


def test_a_missing_log_is_a_usage_error() -> None:
    args = parse_args(
        "--log", "/nonexistent.jsonl", "--expectations", str(ROOT / "expectations"),
        "--schemas", str(ROOT / "expectations" / "schemas"),
    )  # fmt: skip
    with pytest.raises(UsageError, match=r"cannot read /nonexistent\.jsonl"):
        run_report(args)
