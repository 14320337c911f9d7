"""One sentence per finding on the board and in the report, every kind: the words of
sentinel.core.engine.kinds, with times as the board writes them."""

from __future__ import annotations

from typing import Any

import pytest

from sentinel.core.timefmt import parse_rfc3339
from sentinel.status.board_words import describe_finding, is_good, kind_label, step_detail

CLOCK = parse_rfc3339("2026-11-25T10:20:00Z")
EVENT = {"event_type": "OrderPlaced", "event_id": "e9", "event_source": "/shop"}


@pytest.mark.parametrize(
    ("finding", "sentence"),
    [
        ({"kind": "stall", "step": "B", "deadline": "2026-11-25T10:10:00Z"},
         "B expected by 10:10:00; nothing seen"),
        ({"kind": "recovered", "step": "B"}, "B arrived after its stall"),
        ({"kind": "out_of_order", "step": "C", "missing": ["A", "B"]}, "C seen before A, B"),
        ({"kind": "deadline_exceeded", "deadline": "2026-11-24T10:30:00Z"},
         "not complete by its deadline at 2026-11-24 10:30"),
        ({"kind": "completed", "duration_s": 252}, "every step seen; took 4m12s"),
        ({"kind": "rollback", "event_type": "Rollback_Initiated"},
         "Rollback_Initiated started a rollback"),
        ({"kind": "rolled_back", "duration_s": 960}, "compensation seen; took 16m"),
        ({"kind": "schema_violation", **EVENT, "errors": ["a", "b"], "against": "reader"},
         "OrderPlaced e9 from /shop fails its consumers' schema: a (and 1 more)"),
        ({"kind": "unregistered_event", "event_type": "CacheWarmup_Done"},
         "events of type CacheWarmup_Done have no schema; they are not validated"),
        ({"kind": "uncorrelated", **EVENT, "expectation": "orders", "reason": "id is missing"},
         "OrderPlaced e9 from /shop has no rollout key for orders: id is missing"),
        ({"kind": "malformed", "event_source": "line 22", "reason": "no type"},
         "a record from line 22 could not be read: no type"),
        ({"kind": "bus_silent", "reason": "no record on rollout.events for 5m"},
         "no record on rollout.events for 5m"),
        ({"kind": "schema_changed", "event_type": "UserServiceV2_Running", "schema_id": 7,
          "previous_schema_id": 3, "subject": "users-value", "version": 4},
         "UserServiceV2_Running is now written with schema 7 (users-value version 4), not 3:"
         " check that its consumers can read it"),
        ({"kind": "schema_not_found", **EVENT, "schema_id": 99},
         "OrderPlaced e9 from /shop names schema 99: the registry does not have it; it"
         " advanced nothing"),
        ({"kind": "capacity", "reason": "open rollouts at their bound limits.max_open"},
         "open rollouts at their bound limits.max_open"),
        ({"kind": "from_a_newer_peer", "reason": "what it says"}, "what it says"),
    ],
)  # fmt: skip
def test_each_kind_reads_as_one_sentence(finding: dict[str, Any], sentence: str) -> None:
    assert describe_finding(finding, CLOCK) == sentence


def test_without_a_clock_times_are_rfc_3339() -> None:
    finding = {"kind": "stall", "step": "B", "deadline": "2026-11-25T10:10:00Z"}
    assert describe_finding(finding) == "B expected by 2026-11-25T10:10:00Z; nothing seen"


def test_a_kind_reads_as_its_title_with_a_symbol_and_an_unknown_one_as_a_problem() -> None:
    assert kind_label("deadline_exceeded") == ("⏱", "deadline exceeded")
    assert kind_label("rolled_back") == ("↩", "rolled back")
    assert kind_label("from_a_newer_peer") == ("⚠", "from a newer peer")
    assert is_good("rolled_back") and not is_good("stall") and not is_good("from_a_newer_peer")


def test_a_stalled_step_says_when_it_was_due_until_it_is_a_minute_late() -> None:
    def stalled(due: str) -> dict[str, Any]:
        return {"state": "stalled", "due": due, "seen_at": None, "after": []}

    # Never "overdue 0s": the board's script ticks the same words (render.js, tickText).
    assert step_detail(stalled("2026-11-25T10:20:00Z"), CLOCK) == ("due 10:20:00, nothing seen yet")
    assert step_detail(stalled("2026-11-25T10:19:01Z"), CLOCK) == ("due 10:19:01, nothing seen yet")
    assert step_detail(stalled("2026-11-25T10:19:00Z"), CLOCK) == "overdue 1m"
    assert step_detail(stalled("2026-11-25T10:10:00Z"), CLOCK) == "overdue 10m"
