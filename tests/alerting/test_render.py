"""What people read: each finding in plain words, the checklist, Slack's limits and escaping,
Alertmanager labels and the webhook signature. Pure functions, no network."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import replace
from zoneinfo import ZoneInfo

from sentinel.alerting.alert_words import checklist, describe, headline, links
from sentinel.alerting.grouper import Context, RolloutGroup
from sentinel.alerting.settings import AlertingSettings, ExpectationAlerting
from sentinel.alerting.sinks.alertmanager import labels
from sentinel.alerting.sinks.alertmanager import render as alertmanager_alert
from sentinel.alerting.sinks.slack import SlackSettings
from sentinel.alerting.sinks.slack_blocks import (
    TEXT_CHARS,
    clip,
    fallback,
    fit_checklist,
    history,
    render_burst,
    render_reply,
    render_rollout,
)
from sentinel.alerting.sinks.slack_webhook import plan as slack_webhook_plan
from sentinel.alerting.sinks.webhook import render, sign
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.snapshots import Phase, StepStatus

from .helpers import (
    EXPECTATION,
    MIN,
    OWNER,
    T0,
    completed,
    recovered,
    schema_violation,
    stall,
    view,
)

UTC = ZoneInfo("UTC")
SETTINGS = AlertingSettings(sinks=(SlackSettings(token="x", default_channel="#rollouts"),))


def rollout_group(*findings: Finding, with_view: bool = True) -> RolloutGroup:
    rollout_view = view() if with_view else None
    return RolloutGroup(
        f"{EXPECTATION}/42", EXPECTATION, "42", "#c", True, findings, rollout_view, T0
    )


def test_a_stall_says_what_was_expected_by_when_after_what() -> None:
    assert describe(stall(), view(), UTC) == (
        "UserServiceV2_Running expected by 10:10 after SchemaV2_Ready at 10:00; nothing seen"
    )


def test_a_stall_of_a_first_step_counts_from_the_opening() -> None:
    finding = stall(step="SchemaV2_Ready", deadline=T0 + 5 * MIN)
    first = replace(view(), steps=(StepStatus("SchemaV2_Ready", None, (), None, T0 + 300, True),))
    assert describe(finding, first, UTC) == (
        "SchemaV2_Ready expected by 10:05 after the rollout opened at 10:00; nothing seen"
    )


def test_a_stall_without_a_view_still_says_the_step_and_the_time() -> None:
    assert describe(stall(), None, UTC) == "UserServiceV2_Running expected by 10:10; nothing seen"


def test_times_are_shown_in_the_configured_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert describe(stall(), view(), berlin) == (
        "UserServiceV2_Running expected by 12:10 after SchemaV2_Ready at 12:00; nothing seen"
    )


def test_each_kind_has_a_sentence() -> None:
    late = view(running_seen=T0 + 12 * MIN + 3)
    out_of_order = Finding(Kind.OUT_OF_ORDER, T0, EXPECTATION, "42", "B", missing=("A", "C"))
    deadline = Finding(
        Kind.DEADLINE_EXCEEDED, T0 + 30 * MIN, EXPECTATION, "42", deadline=T0 + 30 * MIN
    )
    rollback = Finding(Kind.ROLLBACK, T0, EXPECTATION, "42", event_type="Rollback_Initiated")
    malformed = Finding(
        Kind.MALFORMED, T0, event_source="rollout.events/0@17", reason="not a JSON object"
    )
    uncorrelated = Finding(
        Kind.UNCORRELATED, T0, EXPECTATION, event_type="SchemaV2_Ready", event_id="e1"
    )
    assert describe(recovered(), late, UTC) == (
        "UserServiceV2_Running seen at 10:12:03, 2m3s after it was due at 10:10"
    )
    assert describe(out_of_order, None, UTC) == "B seen before A, C"
    assert describe(deadline, view(), UTC) == (
        "not complete by its deadline at 10:30; still missing: UserServiceV2_Running, "
        "MessagingService_Reconfigured"
    )
    assert describe(completed(), view(), UTC) == "all 3 steps seen; took 15m"
    assert describe(rollback, None, UTC) == "Rollback_Initiated started a rollback"
    assert describe(schema_violation("e9"), None, UTC) == (
        "OrderPlaced e9 from orders fails its schema: 'amount' is a required property"
    )
    assert describe(malformed, None, UTC) == (
        "a record from rollout.events/0@17 could not be read: not a JSON object"
    )
    assert describe(uncorrelated, None, UTC) == (
        "SchemaV2_Ready e1 has no rollout key for user-service-v2"
    )


def test_the_headline_follows_the_rollout_not_only_the_latest_finding() -> None:
    assert headline(view(), stall()) == ("🔴", "Stalled", False)
    late = view(running_seen=T0 + 12 * MIN)
    assert headline(late, recovered()) == ("✅", "Recovered", True)
    assert headline(view(phase=Phase.COMPLETED), completed()) == ("✅", "Completed", True)
    # A recovery of one step while another is overdue is not a resolution.
    other = StepStatus("Cache_Warmed", None, (), None, T0 + 5 * MIN, True)
    two = replace(late, steps=(*late.steps, other))
    assert headline(two, recovered()) == ("🔴", "Stalled", False)


def test_the_checklist_says_seen_due_overdue_waiting_and_cancelled() -> None:
    assert checklist(view(), T0 + 15 * MIN, UTC) == [
        "✅ SchemaV2_Ready: seen at 10:00:00",
        "🔴 UserServiceV2_Running: due by 10:10, overdue by 5m, nothing seen yet"
        " · owner team-users",
        "⚪ MessagingService_Reconfigured: waits for UserServiceV2_Running",
    ]
    pending = view(stalled=False)
    assert checklist(pending, T0 + 5 * MIN, UTC)[1] == (
        "⏳ UserServiceV2_Running: due by 10:10:00 · owner team-users"
    )
    rolling_back = view(phase=Phase.ROLLING_BACK)
    assert checklist(rolling_back, T0 + 15 * MIN, UTC)[1] == (
        "⚪ UserServiceV2_Running: cancelled by the rollback"
    )


def test_a_long_checklist_folds_steps_seen_on_time_then_cuts_the_rest() -> None:
    lines = [f"✅ S{n}: seen" for n in range(70)] + [f"🔴 P{n}: missing" for n in range(50)]
    fitted = fit_checklist(lines, limit=40)
    assert len(fitted) == 40
    assert fitted[0] == "✅ 70 steps seen on time"
    assert fitted[1] == "🔴 P0: missing"
    assert fitted[-1] == "… and 12 more"


def test_slack_text_from_events_cannot_ping_a_channel_or_break_the_markup() -> None:
    hostile = stall(rollout="<!channel> & `x`")
    group = RolloutGroup(
        f"{EXPECTATION}/x", EXPECTATION, hostile.rollout or "", "#c", True, (hostile,), None, T0
    )
    ctx = Context("slack", T0, SETTINGS)
    message = render_rollout(group, ctx, history(group, ctx))
    fields = message.blocks[1]["fields"]
    assert fields[1]["text"] == "*Rollout*\n`&lt;!channel&gt; &amp; 'x'`"
    assert "<!channel>" not in str(message.blocks)


PINGS = "<!channel> <@U123> <https://evil|click> &"


def test_slack_fallback_text_cannot_ping_link_or_break_either() -> None:
    """The `text` Slack shows in notifications reads `<!channel>` as the blocks do (issue 22)."""
    hostile = stall(rollout=PINGS, step="Step" + PINGS)
    rollback = Finding(Kind.ROLLBACK, T0 + MIN, EXPECTATION, PINGS, event_type="Undo" + PINGS)
    groups = [
        RolloutGroup(f"{EXPECTATION}/x", EXPECTATION, PINGS, "#c", True, findings, None, T0)
        for findings in ((hostile,), (rollback,), (hostile, rollback))
    ]
    ctx = Context("slack", T0, SETTINGS)
    texts = [render_rollout(group, ctx, history(group, ctx)).text for group in groups]
    texts += [render_reply(group, ctx, named).text for group in groups for named in (True, False)]
    texts.append(render_burst(groups, ctx, threaded=True).text)
    incoming = slack_webhook_plan(groups, [], {}, ctx)
    texts += [item.payload["text"] for item in incoming.items]
    for text in texts:
        assert "<" not in text and ">" not in text, text
        assert "&lt;!channel&gt; &lt;@U123&gt; &lt;https://evil|click&gt; &amp;" in text
        assert "&amp;lt;" not in text  # escaped once


def test_a_long_fallback_text_is_cut_without_splitting_an_entity() -> None:
    for text in ("<" * 5000, "x" + "&" * 5000, "xy" + "<>" * 3000):
        cut = fallback(text)
        assert len(cut) <= TEXT_CHARS
        assert cut.endswith("…")
        assert re.fullmatch(r"x?y?(&lt;|&gt;|&amp;)*…", cut), cut[-12:]


def test_alertmanager_annotations_show_control_characters_and_labels_keep_the_key() -> None:
    key = "r\x1b[2J\x1b]8;;http://x\x07\nFAKE\u202e"
    alert = alertmanager_alert(stall(rollout=key), view(rollout=key), Context("am", T0, SETTINGS))
    for text in alert["annotations"].values():
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c == "\u202e" for c in text)
    assert "r\\x1b[2J\\x1b]8;;http://x\\x07\\nFAKE\\u202e" in alert["annotations"]["summary"]
    assert alert["labels"]["rollout"] == key  # data: matched and silenced exactly


def test_a_message_without_a_rollout_view_still_renders() -> None:
    ctx = Context("slack", T0, SETTINGS)
    group = rollout_group(stall(), with_view=False)
    message = render_rollout(group, ctx, history(group, ctx))
    assert [block["type"] for block in message.blocks] == [
        "header",
        "section",
        "section",
        "context",
    ]


def test_the_parent_shows_the_first_finding_and_the_latest_when_there_are_many() -> None:
    ctx = Context("slack", T0, SETTINGS)
    lines = tuple(f"line {n}" for n in range(20))
    message = render_rollout(rollout_group(stall()), ctx, lines)
    assert message.blocks[2]["text"]["text"] == "\n".join(
        ["line 0", "… 15 more", "line 16", "line 17", "line 18", "line 19"]
    )


def test_clip_keeps_text_within_a_limit_and_says_it_was_cut() -> None:
    assert clip("abcdef", 4) == "abc…"
    assert clip("abc", 4) == "abc"


def test_links_fill_in_the_rollout_url_encoded_and_prefer_the_expectations_own() -> None:
    settings = AlertingSettings(
        dashboard_url="https://grafana/d/x?var-rollout={rollout}",
        runbook_url="https://runbooks/{expectation}",
        expectations={EXPECTATION: ExpectationAlerting(runbook_url="https://wiki/users/{step}")},
    )
    finding = stall(rollout="a b/c")
    assert links(settings, finding) == (
        "https://grafana/d/x?var-rollout=a%20b%2Fc",
        "https://wiki/users/UserServiceV2_Running",
    )
    assert links(AlertingSettings(), finding) == (None, None)


def test_alertmanager_labels_leave_out_what_does_not_apply() -> None:
    assert labels(stall()) == {
        "alertname": "RolloutStalled",
        "kind": "stall",
        "expectation": EXPECTATION,
        "rollout": "42",
        "step": "UserServiceV2_Running",
        "owner": OWNER,
        "severity": "critical",
    }
    assert labels(Finding(Kind.DEADLINE_EXCEEDED, T0, EXPECTATION, "42")) == {
        "alertname": "RolloutDeadlineExceeded",
        "kind": "deadline_exceeded",
        "expectation": EXPECTATION,
        "rollout": "42",
        "severity": "critical",
    }


def test_the_webhook_body_is_the_contract_json_and_its_signature_the_hmac_of_it() -> None:
    finding = stall()
    assert render(finding) == finding.to_json_dict()
    body = b'{"kind":"stall"}'
    expected = hmac.new(b"key", body, hashlib.sha256).hexdigest()
    assert sign("key", body) == f"sha256={expected}"
