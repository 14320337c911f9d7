"""The rollout API's JSON: it matches the OpenAPI document's schemas and says what the
contract says (phases, problems, step states, RFC 3339 times, graph order)."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.snapshots import Phase, RolloutView, StepState, StepStatus
from sentinel.core.events.envelope import Envelope
from sentinel.core.pipeline.replay import replay
from sentinel.core.rules.expectations import Compensation, Expectation, Step
from sentinel.status.api_json import (
    error_body,
    expectation_list,
    finding_list,
    full,
    graph_order,
    rollout_list,
    stream_message,
    summary,
)
from sentinel.status.assets import openapi_document

from .helpers import EXAMPLE_CLOCK, Example

DOC_URI = "urn:sentinel:openapi"


def validator(name: str) -> Draft202012Validator:
    """A validator of one of the document's component schemas, `$ref`s resolved inside it."""
    resource = Resource.from_contents(openapi_document(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(DOC_URI, resource)
    schema = {"$ref": f"{DOC_URI}#/components/schemas/{name}"}
    return Draft202012Validator(
        schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def assert_valid(name: str, data: Any) -> None:
    errors = [error.message for error in validator(name).iter_errors(data)]
    assert errors == [], errors


def test_every_full_rollout_of_the_example_matches_the_document(example: Example) -> None:
    for rollout in example.rollouts:
        assert_valid("FullRollout", rollout)


def test_a_rollout_list_of_summaries_matches_the_document(example: Example) -> None:
    summaries = [
        {key: value for key, value in rollout.items() if key != "findings"}
        for rollout in example.rollouts
    ]
    body = rollout_list(EXAMPLE_CLOCK, summaries, partial=["10.0.0.7:9464"])
    assert_valid("RolloutList", body)
    assert body["partial"] == ["10.0.0.7:9464"]
    assert body["clock"] == "2026-11-25T10:21:00Z"


def test_the_expectation_list_matches_the_document_and_carries_mermaid(
    example: Example,
) -> None:
    body = expectation_list(example.expectations)
    assert_valid("ExpectationList", body)
    user = next(exp for exp in body["expectations"] if exp["name"] == "user-service-v2")
    assert user["deadline"] == "30m"
    assert user["deadline_s"] == 1800.0
    running = next(step for step in user["steps"] if step["step"] == "UserServiceV2_Running")
    assert running == {
        "step": "UserServiceV2_Running",
        "after": ["SchemaV2_Ready"],
        "within": "10m",
        "within_s": 600.0,
        "owner": "team-users",
    }
    assert user["compensation"][0]["expect"] == "Rollback_Complete"
    assert user["mermaid"].startswith("%% user-service-v2\nflowchart LR\n")
    assert "```" not in user["mermaid"]


def test_a_finding_list_and_an_error_body_match_the_document(example: Example) -> None:
    assert_valid("FindingList", finding_list(EXAMPLE_CLOCK, example.findings()))
    assert_valid("Error", error_body(404, "no rollout r-9 of user-service-v2"))


def test_a_summary_has_no_counted_events_and_a_full_rollout_has_them(example: Example) -> None:
    rollout = example.rollout("r-1001")
    assert rollout["steps"][0]["event_id"] == "e-01"
    assert rollout["steps"][0]["source"] == "/deploy/r-1001"
    open_rollout = next(r for r in example.rollouts if r["rollout"] == "r-1002")
    assert open_rollout["closed_at"] is None


def test_a_stalled_rollout_has_an_open_stall_and_its_step_is_stalled(example: Example) -> None:
    rollout = example.rollout("r-1002")
    assert rollout["phase"] == "open"
    assert rollout["problems"] == ["stall"]
    states = {step["step"]: step["state"] for step in rollout["steps"]}
    assert states == {
        "SchemaV2_Ready": "seen",
        "UserServiceV2_Running": "stalled",
        "MessagingService_Reconfigured": "pending",
    }
    stalled = rollout["steps"][1]
    assert stalled["due"] == "2026-11-25T10:11:00Z"
    assert stalled["owner"] == "team-users"
    assert [finding["kind"] for finding in rollout["findings"]] == ["stall"]


def test_a_recovered_rollout_has_no_open_problem(example: Example) -> None:
    rollout = example.rollout("r-1003")
    assert rollout["phase"] == "completed"
    assert rollout["problems"] == []
    assert rollout["steps"][1]["stalled"] is True
    assert rollout["steps"][1]["state"] == "seen"


def test_a_rolled_back_rollout_shows_its_compensation_and_cancelled_steps(
    example: Example,
) -> None:
    rollout = example.rollout("r-1005")
    assert rollout["phase"] == "rolled_back"
    assert rollout["compensation"]["step"] == "Rollback_Complete"
    assert rollout["compensation"]["state"] == "seen"
    assert rollout["steps"][2]["state"] == "cancelled"
    kinds = [finding["kind"] for finding in rollout["findings"]]
    assert kinds == ["rollback", "rolled_back"]


def test_a_rollout_that_is_rolling_back_has_a_rollback_problem() -> None:
    exp = Expectation(
        "exp",
        "data.key",
        (Step("A"), Step("B", after=("A",), within=60.0)),
        compensation=(Compensation("X", "Y"),),
    )
    engine = Engine([exp])
    events = [
        Envelope("A", "1", "/s", 0.0, {"key": "k"}),
        Envelope("X", "2", "/s", 10.0, {"key": "k"}),
    ]
    list(replay(events, engine, read_at=lambda: 0.0, until=20.0))
    view = engine.view("exp", "k")
    assert view is not None
    assert summary(view)["problems"] == ["rollback"]
    assert summary(view)["phase"] == "rolling_back"


def test_a_passed_deadline_is_an_open_problem() -> None:
    exp = Expectation("exp", "data.key", (Step("A"), Step("B", after=("A",))), deadline=60.0)
    engine = Engine([exp])
    events = [Envelope("A", "1", "/s", 0.0, {"key": "k"})]
    list(replay(events, engine, read_at=lambda: 0.0, until=120.0))
    view = engine.view("exp", "k")
    assert view is not None
    assert summary(view)["problems"] == ["deadline_exceeded"]
    assert summary(view)["deadline"] == "1970-01-01T00:01:00Z"


def test_full_lists_findings_oldest_first_in_their_contract_json() -> None:
    view_findings = [
        Finding(Kind.COMPLETED, 20.0, expectation="e", rollout="k", duration_s=20.0),
        Finding(Kind.STALL, 10.0, expectation="e", rollout="k", step="A", deadline=5.0),
    ]
    step = StepStatus("A", None, (), 15.0, 5.0, True, StepState.SEEN, "id-1", "/src")
    view = RolloutView("e", "k", None, Phase.COMPLETED, 0.0, None, (step,), closed_at=20.0)
    data = full(view, view_findings)
    assert [finding["kind"] for finding in data["findings"]] == ["stall", "completed"]
    assert data["findings"][0] == view_findings[1].to_json_dict()
    assert data["closed_at"] == "1970-01-01T00:00:20Z"
    assert data["steps"][0]["seen_at"] == "1970-01-01T00:00:15Z"


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        (["C", "B", "A"], ["A", "B", "C"]),
        (["A", "B", "C"], ["A", "B", "C"]),
    ],
)
def test_steps_come_in_graph_order_whatever_the_declaration_order(
    declared: list[str], expected: list[str]
) -> None:
    after = {"A": (), "B": ("A",), "C": ("B",)}
    steps = [StepStatus(name, None, after[name], None, None, False) for name in declared]
    assert [step.step for step in graph_order(steps)] == expected


def test_parallel_steps_keep_their_declared_order(example: Example) -> None:
    rollout = next(r for r in example.rollouts if r["expectation"] == "game-feature-weekly")
    assert [step["step"] for step in rollout["steps"]] == [
        "FeatureFlags_Staged",
        "Matchmaking_Updated",
        "Leaderboard_Migrated",
        "TournamentService_Enabled",
        "Release_Announced",
    ]


def test_a_stream_message_is_one_finding_event() -> None:
    finding = Finding(Kind.STALL, 0.0, expectation="e", rollout="k\nevent: x", step="A")
    message = stream_message(finding)
    assert message.startswith(b"event: finding\ndata: {")
    assert message.endswith(b"}\n\n")
    # A newline in bus data stays inside the JSON string: it cannot start a new SSE field.
    assert message.count(b"\n") == 3
