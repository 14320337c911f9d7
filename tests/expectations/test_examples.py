"""The example expectations in `expectations/` load cleanly, and every event type they name has
a schema in `expectations/schemas/` that accepts a realistic event and refuses one without its
rollout key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from sentinel.core.events.schemas import SchemaRegistry
from sentinel.core.rules.loader import load_expectations

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "expectations"
SCHEMAS = EXAMPLES / "schemas"

# One valid `data` per event type: what the example event log in expectations/examples/ sends.
SAMPLE_DATA: dict[str, dict[str, Any]] = {
    "SchemaV2_Ready": {"rollout_id": "ro-1", "schema_version": "v2", "migration_id": "mig-0042"},
    "UserServiceV2_Running": {"rollout_id": "ro-1", "version": "2.0.3", "replicas": 3},
    "MessagingService_Reconfigured": {
        "rollout_id": "ro-1",
        "user_service_version": "2.0.3",
        "config_revision": 7,
    },
    "Rollback_Initiated": {"rollout_id": "ro-1", "reason": "error rate 4%", "initiated_by": "ci"},
    "Rollback_Complete": {"rollout_id": "ro-1", "restored_version": "1.9.8"},
    "FeatureFlags_Staged": {"release": "2024-w19", "flags": ["ranked-duos", "winter-map"]},
    "Matchmaking_Updated": {"release": "2024-w19", "config_version": "mm-311", "regions": ["eu"]},
    "Leaderboard_Migrated": {"release": "2024-w19", "migration_id": "lb-77", "rows_migrated": 0},
    "TournamentService_Enabled": {"release": "2024-w19", "version": "5.2.0", "tournaments": 4},
    "Release_Announced": {"release": "2024-w19", "channel": "in-game"},
    "Release_Rollback_Started": {"release": "2024-w19", "reason": "matchmaking timeouts"},
    "Release_Rollback_Done": {"release": "2024-w19", "restored_release": "2024-w18"},
}


def test_the_examples_load_without_warnings() -> None:
    loaded = load_expectations([EXAMPLES])
    assert loaded.warnings == ()
    by_name = {expectation.name: expectation for expectation in loaded.expectations}
    assert set(by_name) == {"user-service-v2", "game-feature-weekly"}
    assert [path.name for path in loaded.files] == [
        "game-feature-weekly.yaml",
        "user-service-v2.yaml",
    ]


def test_the_user_service_example_is_the_contract_example() -> None:
    (expectation,) = load_expectations([EXAMPLES / "user-service-v2.yaml"]).expectations
    assert (expectation.owner, expectation.correlate, expectation.deadline) == (
        "team-identity",
        "data.rollout_id",
        1800.0,
    )
    assert [(s.event, s.after, s.within, s.owner) for s in expectation.steps] == [
        ("SchemaV2_Ready", (), None, None),
        ("UserServiceV2_Running", ("SchemaV2_Ready",), 600.0, "team-users"),
        ("MessagingService_Reconfigured", ("UserServiceV2_Running",), 300.0, "team-messaging"),
    ]
    assert [(c.trigger, c.expect, c.within) for c in expectation.compensation] == [
        ("Rollback_Initiated", "Rollback_Complete", 900.0)
    ]


def test_the_game_feature_example_fans_out_and_back_in() -> None:
    (expectation,) = load_expectations([EXAMPLES / "game-feature-weekly.yaml"]).expectations
    assert expectation.correlate == "subject"
    assert expectation.deadline == 7200.0
    assert expectation.dependents["FeatureFlags_Staged"] == (
        "Matchmaking_Updated",
        "Leaderboard_Migrated",
    )
    assert expectation.step_index["TournamentService_Enabled"].after == (
        "Matchmaking_Updated",
        "Leaderboard_Migrated",
    )
    owners = {expectation.owner_of(step.event) for step in expectation.steps}
    assert len(owners) >= 3


def test_every_event_type_of_the_examples_has_a_schema_and_a_sample() -> None:
    named = set().union(*(e.event_types for e in load_expectations([EXAMPLES]).expectations))
    registry = SchemaRegistry.load(SCHEMAS)
    assert registry.types == named == set(SAMPLE_DATA)


@pytest.mark.parametrize("event_type", sorted(SAMPLE_DATA))
def test_each_schema_accepts_its_sample_and_refuses_it_without_the_rollout_key(
    event_type: str,
) -> None:
    registry = SchemaRegistry.load(SCHEMAS)
    sample = SAMPLE_DATA[event_type]
    assert registry.check(event_type, sample) == []
    assert registry.check(event_type, {**sample, "added_by_a_newer_producer": True}) == []
    key = "rollout_id" if "rollout_id" in sample else "release"
    without_key = {name: value for name, value in sample.items() if name != key}
    (error,) = registry.check(event_type, without_key) or [""]
    assert key in error and "required" in error
    assert registry.check(event_type, {**sample, key: ""}) != []


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.json")), ids=lambda path: path.name)
def test_each_schema_is_draft_2020_12_and_shares_definitions_by_relative_ref(path: Path) -> None:
    schema = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "$id" not in schema  # the file's own location is the base of its relative $ref
    if not path.name.startswith("_"):
        refs = [value["$ref"] for value in schema["properties"].values() if "$ref" in value]
        assert refs and all(ref.startswith("_common.json#/$defs/") for ref in refs)


def test_the_expectation_format_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema_file = REPO / "sentinel" / "core" / "rules" / "expectation_format.schema.json"
    schema = json.loads(schema_file.read_text())
    Draft202012Validator.check_schema(schema)
