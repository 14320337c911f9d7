"""One sentence per finding on the board and in the report, the registry's kinds included."""

from __future__ import annotations

import pytest

from sentinel.status.words import describe_finding


@pytest.mark.parametrize(
    ("finding", "sentence"),
    [
        (
            {"kind": "schema_changed", "event_type": "UserServiceV2_Running", "schema_id": 7,
             "previous_schema_id": 3},
            "UserServiceV2_Running now written with schema 7, was 3",
        ),
        (
            {"kind": "schema_not_found", "event_type": "SchemaV2_Ready", "schema_id": 99},
            "SchemaV2_Ready: the registry has no schema 99",
        ),
        (
            {"kind": "schema_violation", "event_type": "X", "errors": ["a", "b"]},
            "X: a; b",
        ),
    ],
)  # fmt: skip
def test_each_kind_reads_as_one_sentence(finding: dict[str, object], sentence: str) -> None:
    assert describe_finding(finding) == sentence
