"""Every finding kind is known to every place that words or names kinds: a kind missing from
a table would fail only when such a finding is raised (a KeyError in a sink, a wrong line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sentinel import timeline
from sentinel.alerting import words
from sentinel.alerting.sinks import alertmanager
from sentinel.findings import GOOD_KINDS, ROLLOUT_KINDS, Finding, Kind
from sentinel.status import words as board_words

T0 = 1_795_600_800.0
EVENT_KINDS = [kind for kind in Kind if kind not in ROLLOUT_KINDS]
OPENAPI = Path(__file__).resolve().parents[1] / "sentinel" / "status" / "openapi.json"


def finding(kind: Kind) -> Finding:
    return Finding(
        kind, T0, expectation="exp", rollout=None if kind not in ROLLOUT_KINDS else "r1",
        step="Step" if kind in ROLLOUT_KINDS else None, event_type="Type", event_id="e1",
        reason="the reason", errors=("an error",), deadline=T0, missing=("A",), duration_s=1.0,
        schema_id=2, previous_schema_id=1,
    )  # fmt: skip


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_has_a_title_and_a_line_on_the_board(kind: Kind) -> None:
    assert words.title(kind)
    assert board_words.describe_finding(finding(kind).to_json_dict())


@pytest.mark.parametrize("kind", [kind for kind in Kind if kind not in GOOD_KINDS])
def test_every_problem_kind_has_an_alertmanager_name(kind: Kind) -> None:
    assert alertmanager.labels(finding(kind))["alertname"]


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_every_event_kind_reads_as_itself_in_slack_and_in_replay(kind: Kind) -> None:
    sentence = words.describe_event(finding(kind))
    assert sentence and sentence != words.title(kind)
    assert words.counted(kind, 2) != f"2 {words.title(kind)}"
    line = timeline._event_line(finding(kind))
    assert ("MALFORMED" in line) == (kind is Kind.MALFORMED), line


def test_the_openapi_document_lists_every_kind() -> None:
    document = json.loads(OPENAPI.read_text())
    kinds = document["components"]["schemas"]["Finding"]["properties"]["kind"]["examples"]
    assert sorted(kinds) == sorted(str(kind) for kind in Kind)
