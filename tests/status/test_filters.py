"""The API's filters: what each query parameter selects, and the 400 a bad one earns."""

from __future__ import annotations

from typing import Any

import pytest

from sentinel.core.timefmt import parse_rfc3339
from sentinel.status.filters import (
    BadQuery,
    FindingQuery,
    RolloutQuery,
    parse_finding_query,
    parse_rollout_query,
    select_findings,
    select_rollouts,
)

from .helpers import Example


def keys(rollouts: list[Any]) -> list[str]:
    return [rollout["rollout"] for rollout in rollouts]


def test_the_default_is_open_rollouts_newest_opened_first(example: Example) -> None:
    chosen = select_rollouts(example.rollouts, parse_rollout_query({}))
    assert keys(chosen) == ["r-1006", "r-1002"]


def test_closed_means_completed_or_rolled_back(example: Example) -> None:
    chosen = select_rollouts(example.rollouts, parse_rollout_query({"phase": "closed"}))
    assert {rollout["phase"] for rollout in chosen} == {"completed", "rolled_back"}
    assert len(chosen) == 5


def test_all_phases_with_a_limit_keeps_those_that_need_someone_then_the_newest(
    example: Example,
) -> None:
    chosen = select_rollouts(example.rollouts, parse_rollout_query({"phase": "all", "limit": "2"}))
    assert keys(chosen) == ["r-1006", "r-1002"]  # both open with a problem
    chosen = select_rollouts(example.rollouts, parse_rollout_query({"phase": "all", "limit": "3"}))
    assert keys(chosen)[2] == "r-1005"  # the newest opened of the others


def test_expectation_selects_its_rollouts_only(example: Example) -> None:
    query = parse_rollout_query({"phase": "all", "expectation": "game-feature-weekly"})
    assert keys(select_rollouts(example.rollouts, query)) == ["2026-w48"]


def test_owner_matches_the_rollouts_owner_or_any_steps_owner(example: Example) -> None:
    by_step_owner = parse_rollout_query({"phase": "all", "owner": "team-matchmaking"})
    assert keys(select_rollouts(example.rollouts, by_step_owner)) == ["2026-w48"]
    by_rollout_owner = parse_rollout_query({"owner": "team-identity"})
    assert keys(select_rollouts(example.rollouts, by_rollout_owner)) == ["r-1006", "r-1002"]
    nobody = parse_rollout_query({"phase": "all", "owner": "team-nobody"})
    assert select_rollouts(example.rollouts, nobody) == []


def test_problem_true_keeps_rollouts_with_an_open_problem(example: Example) -> None:
    query = parse_rollout_query({"phase": "all", "problem": "true"})
    chosen = select_rollouts(example.rollouts, query)
    assert keys(chosen) == ["r-1006", "r-1002"]
    assert all(rollout["problems"] for rollout in chosen)


def test_the_history_is_wanted_only_for_closed_or_all() -> None:
    assert not parse_rollout_query({}).wants_history
    assert parse_rollout_query({"phase": "closed"}).wants_history
    assert parse_rollout_query({"phase": "all"}).wants_history


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"phase": "finished"}, "phase"),
        ({"problem": "maybe"}, "problem"),
        ({"problem": "1"}, "problem"),
        ({"limit": ""}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-3"}, "limit"),
        ({"limit": "²"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"phaze": "open"}, "phaze"),
    ],
)
def test_a_bad_rollout_parameter_is_refused_by_name(params: dict[str, str], named: str) -> None:
    with pytest.raises(BadQuery, match=named):
        parse_rollout_query(params)


def test_a_parsed_query_holds_what_was_asked() -> None:
    query = parse_rollout_query(
        {"expectation": "e", "owner": "o", "phase": "all", "problem": "true", "limit": "7"}
    )
    assert query == RolloutQuery("e", "o", "all", True, 7)


def test_findings_come_newest_first_since_a_time_inclusive(example: Example) -> None:
    query = parse_finding_query({"since": "2026-11-25T10:14:00Z"})
    chosen = select_findings(reversed(example.findings()), query)
    times = [parse_rfc3339(finding["at"]) for finding in chosen]
    assert times == sorted(times, reverse=True)
    assert min(times) == parse_rfc3339("2026-11-25T10:14:00Z")
    assert chosen[0]["kind"] == "rolled_back"
    assert len(chosen) == 6


def test_findings_limit_keeps_the_newest(example: Example) -> None:
    chosen = select_findings(example.findings(), FindingQuery(limit=1))
    assert [finding["kind"] for finding in chosen] == ["rolled_back"]


def test_times_with_and_without_milliseconds_sort_by_time_not_by_text() -> None:
    findings = [{"at": "2026-11-25T10:00:00Z"}, {"at": "2026-11-25T10:00:00.500Z"}]
    chosen = select_findings(findings, FindingQuery())
    assert [finding["at"] for finding in chosen] == [
        "2026-11-25T10:00:00.500Z",
        "2026-11-25T10:00:00Z",
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"since": "2026-11-25T10:00:00"},
        {"since": ""},
        {"limit": "x"},
        {"q": "1"},
    ],
)
def test_a_bad_findings_parameter_is_refused(params: dict[str, str]) -> None:
    with pytest.raises(BadQuery):
        parse_finding_query(params)
