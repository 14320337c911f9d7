"""Every finding kind is described once (sentinel.core.engine.kinds), and every place that
words or names kinds reads that description: Slack, Alertmanager, PagerDuty, Teams, the digest,
replay's text, the demo, the board (server and script), the report and the OpenAPI document. A
kind missing from the table fails here, not as a KeyError in a sink or a wrong line in a
terminal."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from sentinel.alerting import alert_words as words
from sentinel.alerting.grouper import Context, EventGroup, RolloutGroup
from sentinel.alerting.settings_parser import AlertingSettings
from sentinel.alerting.sinks import alertmanager, pagerduty, slack, slack_digest, teams
from sentinel.commands import demo_command as demo
from sentinel.core.engine.findings import GOOD_KINDS, ROLLOUT_KINDS, Finding, Kind
from sentinel.core.engine.kinds import KINDS, KindSpec, Scope, sentence, utc_clock
from sentinel.core.ports.outbox import Thread
from sentinel.core.timefmt import format_rfc3339, parse_rfc3339
from sentinel.status import board_words, markup, report_html, timeline
from sentinel.status.api_json import stream_message
from sentinel.status.assets import openapi_document

T0 = 1_795_600_800.0
UTC = ZoneInfo("UTC")
CTX = Context("sink", T0, AlertingSettings())
RENDER_JS = Path(__file__).resolve().parents[1] / "sentinel" / "status" / "static" / "render.js"


def finding(kind: Kind) -> Finding:
    """A finding of `kind` with every field its sentence may read."""
    about_rollout = KINDS[kind].scope is Scope.ROLLOUT
    return Finding(
        kind, T0, expectation="exp", rollout="r1" if about_rollout else None,
        step="Step" if about_rollout else None, owner="team", event_type="Type", event_id="e1",
        event_source="/src", reason="the reason", errors=("an error",), deadline=T0,
        missing=("A",), duration_s=61.0, against="reader", schema_id=2, previous_schema_id=1,
        subject="Type-value", version=3,
    )  # fmt: skip


def said(kind: Kind) -> str:
    return sentence(finding(kind).to_json_dict())


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_is_described_once(kind: Kind) -> None:
    spec = KINDS[kind]
    assert isinstance(spec, KindSpec) and spec.kind is kind
    assert spec.title and spec.symbol and all(spec.nouns)
    text = said(kind)
    assert text and text != spec.title and "None" not in text
    fields = {field.name for field in dataclasses.fields(Finding)}
    assert set(spec.identity) <= fields, "the id is made of the finding's own fields"
    assert (kind in GOOD_KINDS) == spec.good
    assert (kind in ROLLOUT_KINDS) == (spec.scope is Scope.ROLLOUT)
    assert spec.good or spec.alertname, "a problem fires an Alertmanager alert by this name"


@pytest.mark.parametrize("kind", list(Kind))
def test_the_id_is_made_of_the_fields_the_kind_names(kind: Kind) -> None:
    one = finding(kind)
    for name in KINDS[kind].identity:
        other = dataclasses.replace(one, at=T0 + 60) if name == "at" else None
        other = other or dataclasses.replace(one, **{name: "different"})
        assert other.id != one.id, name
    if "at" not in KINDS[kind].identity:
        assert dataclasses.replace(one, at=T0 + 60).id == one.id


@pytest.mark.parametrize("kind", list(Kind))
def test_slack_and_alertmanager_say_the_kinds_words(kind: Kind) -> None:
    spec, one = KINDS[kind], finding(kind)
    assert words.title(kind) == spec.title
    in_slack = sentence(
        one.to_json_dict(), lambda time: words.short_clock(parse_rfc3339(time), UTC)
    )
    assert words.describe(one, None, UTC) == in_slack
    if one.rollout is not None:
        group = RolloutGroup("exp/r1", "exp", "r1", "#c", True, (one,), None, T0)
        [line] = slack.history(group, CTX)
        assert f"{spec.title}: {in_slack}" in line
    else:
        counts = {kind: 2}
        digest = EventGroup("d", "#c", (one, dataclasses.replace(one, event_id="e2")), counts, T0)
        message = slack_digest.render_digest(digest, CTX)
        assert message.text.startswith(f"2 {spec.nouns[1]}")
    if not spec.good:
        alert = alertmanager.render(one, None, CTX)
        assert alert["labels"]["alertname"] == spec.alertname
        assert alert["labels"]["severity"] == spec.severity
        assert alert["annotations"]["summary"].startswith(spec.title)
        assert alert["annotations"]["description"] == in_slack


@pytest.mark.parametrize("kind", list(Kind))
def test_pagerduty_and_teams_say_the_kinds_words(kind: Kind) -> None:
    spec, one = KINDS[kind], finding(kind)
    said_here = words.describe(one, None, UTC)
    if one.rollout is not None:
        group = RolloutGroup("exp/r1", "exp", "r1", "", True, (one,), None, T0)
        card = teams.render_rollout(group, CTX, slack.history(group, CTX))
        assert any(f"{spec.title}: {said_here}" in line for line in card.words())
        # A problem triggers; good news resolves what is open (here the step's stall).
        stalled = Thread("", firing=({"kind": "stall", "step": "Step"},))
        [item] = pagerduty.plan([group], [], {"exp/r1": stalled}, CTX).items
        event = item.payload["event"]
        assert event["dedup_key"] == "exp/r1"
        if spec.good:
            assert event == {"event_action": "resolve", "dedup_key": "exp/r1"}
        else:
            assert event["event_action"] == "trigger"
            assert event["payload"]["summary"] == f"{spec.title}: exp rollout r1: {said_here}"
            assert event["payload"]["severity"] == pagerduty.SEVERITY[spec.severity]
    else:
        counts = {kind: 2}
        pair = (one, dataclasses.replace(one, event_id="e2"))
        card = teams.render_digest(EventGroup("d", "", pair, counts, T0), CTX)
        assert card.text.startswith(f"2 {spec.nouns[1]}")
        [item] = pagerduty.plan([], [EventGroup("k", "", pair, counts, T0)], {}, CTX).items
        event = item.payload["event"]
        assert event["payload"]["summary"].startswith(f"2 {spec.nouns[1]}")
        assert event["payload"]["severity"] == pagerduty.SEVERITY[spec.severity]
        assert event["dedup_key"] == pagerduty.event_key(one)


@pytest.mark.parametrize("kind", [kind for kind in Kind if kind not in ROLLOUT_KINDS])
def test_every_event_kind_has_digest_nouns(kind: Kind) -> None:
    one, several = KINDS[kind].nouns
    assert words.counted(kind, 1) == f"1 {one}"
    assert words.counted(kind, 1000) == f"1,000 {several}"


@pytest.mark.parametrize("kind", list(Kind))
def test_replay_text_and_the_demo_say_the_kinds_sentence(kind: Kind) -> None:
    spec, one = KINDS[kind], finding(kind)
    line = timeline._event_line(one)
    assert line == f"{format_rfc3339(T0)[11:19]}  {timeline._finding_line(one)}"
    assert said(kind) in line
    assert (spec.title.upper() if not spec.good else spec.title.lower()) in line
    assert ("MALFORMED" in line) == (kind is Kind.MALFORMED), line
    assert said(kind) in demo._describe(one.to_json_dict())


@pytest.mark.parametrize("kind", list(Kind))
def test_the_board_and_the_report_say_the_kinds_words(kind: Kind) -> None:
    spec, data = KINDS[kind], finding(kind).to_json_dict()
    board_said = sentence(data, lambda time: board_words.clock_text(time, T0))
    assert board_words.describe_finding(data, T0) == board_said
    assert board_words.kind_label(kind) == (spec.symbol, spec.title.lower())
    item = markup.finding_item(data, T0)
    tone = "good" if spec.good else "problem"
    assert f'class="finding {tone} kind-{kind}"' in item
    assert markup.esc(spec.title.lower()) in item and markup.esc(board_said) in item
    assert markup.esc(sentence(data, str)) in report_html._finding(data)  # RFC 3339 times
    # The script gets the sentence with each finding of the stream, and the words per kind
    # from the page.
    streamed = orjson.loads(stream_message(finding(kind)).split(b"data: ", 1)[1])
    assert streamed["sentence"] == board_said
    assert {key: streamed[key] for key in data} == data, "the contract's object, untouched"
    kinds = orjson.loads(board_words.kinds_json())
    assert kinds[kind] == {"symbol": spec.symbol, "word": spec.title.lower(), "good": spec.good}
    page = markup.page("t", "", T0, "board")
    assert f'data-kinds="{markup.esc(board_words.kinds_json())}"' in page


def test_the_boards_script_words_no_kind_itself() -> None:
    script = RENDER_JS.read_text()
    # `completed` and `rolled_back` are also phases, which the script does word.
    kinds = [kind for kind in Kind if kind not in board_words.PHASES]
    named = [kind for kind in kinds if re.search(rf"[\"']{kind}[\"']|\b{kind}\s*:", script)]
    assert named == [], (
        "the script names kinds: their words belong in sentinel/core/engine/kinds.py"
    )


def test_the_openapi_document_lists_every_kind() -> None:
    document = openapi_document()
    kinds = document["components"]["schemas"]["Finding"]["properties"]["kind"]["examples"]
    assert kinds == [str(kind) for kind in Kind]


def test_a_time_reads_as_the_reader_asks() -> None:
    stall = finding(Kind.STALL).to_json_dict()
    assert sentence(stall) == f"Step expected by {utc_clock(stall['deadline'])}; nothing seen"
    assert sentence(stall, lambda time: "noon") == "Step expected by noon; nothing seen"
