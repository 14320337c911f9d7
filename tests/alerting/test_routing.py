"""The pure decisions: routing, kinds that only count, shadow mode, silences, grouping windows,
and what each sink's planner makes of a closed window. No clock, no network, no outbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sentinel.alerting.grouper import Context, Plan, group
from sentinel.alerting.router import close_at, route
from sentinel.alerting.settings import AlertingSettings, ExpectationAlerting, Silence
from sentinel.alerting.sinks import alertmanager, slack, webhook
from sentinel.alerting.sinks.alertmanager import AlertmanagerSettings
from sentinel.alerting.sinks.slack import SlackSettings
from sentinel.alerting.sinks.slack_digest import for_people
from sentinel.alerting.sinks.webhook import WebhookSettings
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.snapshots import Phase, RolloutView
from sentinel.core.ports.outbox import NOISE_PRIORITY, ROLLOUT_PRIORITY, Held, Thread

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

NOW = 1_000_000.0
SLACK = SlackSettings(
    token="xoxb", default_channel="#rollouts", channels={OWNER: "#identity-oncall"}
)
SETTINGS = AlertingSettings(sinks=(SLACK,), window=30.0, event_interval=600.0, max_messages=3)


def sinks_of(
    settings: AlertingSettings,
    findings: Sequence[Finding],
    now: float = NOW,
    silences: Sequence[Silence] = (),
) -> list[tuple[str, str, str, bool]]:
    decision = route(findings, settings, silences, now)
    return [
        (routed.sink, routed.finding.rollout or "", routed.destination, routed.opens)
        for routed in decision.routed
    ]


def test_a_finding_goes_to_its_owners_channel_else_to_the_default() -> None:
    routed = route(
        [stall("a"), stall("b", owner="team-payments"), stall("c", owner=None)], SETTINGS, (), NOW
    )
    assert [r.destination for r in routed.routed] == ["#identity-oncall", "#rollouts", "#rollouts"]


def test_every_configured_sink_gets_the_finding() -> None:
    settings = AlertingSettings(
        sinks=(SLACK, WebhookSettings(url="http://x/hook"), AlertmanagerSettings(url="http://am"))
    )
    assert [sink for sink, *_ in sinks_of(settings, [stall()])] == [
        "slack",
        "webhook",
        "alertmanager",
    ]


def test_people_wait_for_the_grouping_window_and_machines_do_not() -> None:
    settings = AlertingSettings(sinks=(SLACK, WebhookSettings(url="http://x/hook")), window=45.0)
    windows = {r.sink: r.window for r in route([stall()], settings, (), NOW).routed}
    assert windows == {"slack": 45.0, "webhook": 0.0}


def test_kinds_not_listed_in_alert_on_are_only_counted() -> None:
    settings = AlertingSettings(sinks=(SLACK,), alert_on=frozenset({Kind.STALL}))
    out_of_order = Finding(
        Kind.OUT_OF_ORDER, T0, EXPECTATION, "42", "B", owner=OWNER, missing=("A",)
    )
    decision = route([out_of_order, schema_violation("1"), stall()], settings, (), NOW)
    assert [r.finding.kind for r in decision.routed] == [Kind.STALL]
    assert decision.muted == ()


def test_good_news_is_routed_to_resolve_earlier_alerts_but_never_opens_a_message() -> None:
    assert sinks_of(SETTINGS, [recovered(), completed()]) == [
        ("slack", "42", "#identity-oncall", False),
        ("slack", "42", "#identity-oncall", False),
    ]


def test_good_news_listed_in_alert_on_opens_a_message_of_its_own() -> None:
    settings = AlertingSettings(sinks=(SLACK,), alert_on=frozenset({Kind.COMPLETED}))
    assert sinks_of(settings, [completed()]) == [("slack", "42", "#identity-oncall", True)]


def test_a_shadow_expectation_alerts_nobody_and_is_counted_as_shadow() -> None:
    settings = AlertingSettings(
        sinks=(SLACK,), expectations={EXPECTATION: ExpectationAlerting(shadow=True)}
    )
    decision = route([stall(), recovered()], settings, (), NOW)
    assert decision.routed == ()
    assert decision.muted == (("slack", "shadow"), ("slack", "shadow"))


def test_a_silence_by_expectation_holds_back_problems_until_it_ends() -> None:
    silence = Silence(until=NOW + 60, expectation=EXPECTATION)
    during = route([stall()], SETTINGS, [silence], NOW)
    after = route([stall()], SETTINGS, [silence], NOW + 60)
    assert during.routed == ()
    assert during.muted == (("slack", "silenced"),)
    assert len(after.routed) == 1


def test_a_silence_by_owner_holds_back_only_that_owners_findings() -> None:
    silence = Silence(until=NOW + 60, owner="team-payments")
    decision = route([stall("a"), stall("b", owner="team-payments")], SETTINGS, [silence], NOW)
    assert [r.finding.rollout for r in decision.routed] == ["a"]


def test_a_silence_by_expectation_and_owner_needs_both_to_match() -> None:
    silence = Silence(until=NOW + 60, expectation=EXPECTATION, owner="team-payments")
    other = stall("b", owner="team-payments", expectation="billing-v3")
    decision = route(
        [stall("a"), stall("c", owner="team-payments"), other], SETTINGS, [silence], NOW
    )
    assert [r.finding.rollout for r in decision.routed] == ["a", "b"]


def test_a_silence_lets_resolutions_of_earlier_alerts_through() -> None:
    silence = Silence(until=NOW + 60, expectation=EXPECTATION)
    decision = route([recovered()], SETTINGS, [silence], NOW)
    assert [(r.finding.kind, r.opens) for r in decision.routed] == [(Kind.RECOVERED, False)]


def test_rollout_findings_share_one_window_and_event_findings_one_digest_per_channel() -> None:
    unknown = Finding(Kind.UNREGISTERED_EVENT, NOW, event_type="Mystery")
    decision = route(
        [
            stall("a"),
            stall("b"),
            schema_violation("1"),
            schema_violation("2", "PaymentTaken"),
            unknown,
            replace(unknown, owner=OWNER),
        ],
        SETTINGS,
        (),
        NOW,
    )
    assert [(r.bucket, r.digest) for r in decision.routed] == [
        ("rollouts", False),
        ("rollouts", False),
        ("digest|#rollouts", True),
        ("digest|#rollouts", True),
        ("digest|#rollouts", True),
        ("digest|#identity-oncall", True),
    ]
    assert [r.gap for r in decision.routed] == [0.0, 0.0, 600.0, 600.0, 600.0, 600.0]


def test_machines_get_event_findings_in_a_window_per_kind_and_type() -> None:
    settings = AlertingSettings(sinks=(WebhookSettings(url="http://x/hook"),))
    findings = [schema_violation("1"), schema_violation("2", "PaymentTaken")]
    decision = route(findings, settings, (), NOW)
    assert [(r.bucket, r.digest, r.window) for r in decision.routed] == [
        ("schema_violation|OrderPlaced", False, 0.0),
        ("schema_violation|PaymentTaken", False, 0.0),
    ]


def test_a_window_closes_after_its_first_finding_and_later_ones_join_it() -> None:
    assert close_at(NOW, 30, 0, open_close=None, last_flush=None) == NOW + 30
    assert close_at(NOW + 20, 30, 0, open_close=NOW + 30, last_flush=None) == NOW + 30


def test_an_event_type_flushes_at_most_once_per_interval() -> None:
    # The first burst waits only for the window; the next not before the interval is over.
    assert close_at(NOW, 30, 600, open_close=None, last_flush=None) == NOW + 30
    assert close_at(NOW + 40, 30, 600, open_close=None, last_flush=NOW + 30) == NOW + 630
    assert close_at(NOW + 900, 30, 600, open_close=None, last_flush=NOW + 30) == NOW + 930


def held(
    finding: Finding,
    rollout_view: RolloutView | None = None,
    opens: bool = True,
    destination: str = "#identity-oncall",
) -> Held:
    bucket = "rollouts" if finding.rollout else f"digest|{destination}"
    return Held(
        f"{finding.id}:slack", "slack", bucket, destination, opens, finding, rollout_view, NOW, NOW
    )


def slack_plan(batch: list[Held], threads: dict[str, Thread] | None = None) -> Plan:
    rollouts, events = group(batch)
    planner = for_people(slack.plan, bot=True)
    return planner(rollouts, events, threads or {}, Context("slack", NOW, SETTINGS))


def test_the_findings_of_one_rollout_in_one_window_make_one_parent() -> None:
    second = stall(step="MessagingService_Reconfigured")
    plan = slack_plan([held(stall(), view()), held(second, view())])
    [item] = plan.items
    assert item.payload["purpose"] == "parent"
    assert item.payload["channel"] == "#identity-oncall"
    assert item.payload["threads"] == [f"{EXPECTATION}/42"]
    assert plan.threads[f"{EXPECTATION}/42"].channel == "#identity-oncall"
    assert len(plan.threads[f"{EXPECTATION}/42"].history) == 2


def test_up_to_max_messages_new_rollouts_get_a_parent_each() -> None:
    plan = slack_plan([held(stall(name), view(name)) for name in "abc"])
    assert [item.payload["purpose"] for item in plan.items] == ["parent"] * 3


def test_more_new_rollouts_than_max_messages_make_one_message_listing_them() -> None:
    plan = slack_plan([held(stall(str(n)), view(str(n))) for n in range(50)])
    [item] = plan.items
    assert item.payload["purpose"] == "parent"
    assert len(item.payload["threads"]) == 50
    assert all(thread.shared for thread in plan.threads.values())


def test_a_burst_is_counted_per_channel() -> None:
    batch = [held(stall(str(n)), view(str(n))) for n in range(4)]
    batch += [
        held(stall(f"p{n}", owner="team-payments"), view(f"p{n}"), destination="#rollouts")
        for n in range(2)
    ]
    plan = slack_plan(batch)
    assert [(item.payload["channel"], len(item.payload["threads"])) for item in plan.items] == [
        ("#identity-oncall", 4),
        ("#rollouts", 1),
        ("#rollouts", 1),
    ]


def test_a_rollout_with_a_thread_gets_a_reply_and_an_update_of_its_parent() -> None:
    thread = Thread(channel="C0IDENTITY", ts="1.0", history=("🔴 10:10:00 Stall: ...",))
    late = view(running_seen=T0 + 12 * MIN)
    plan = slack_plan([held(recovered(), late, opens=False)], {f"{EXPECTATION}/42": thread})
    reply, update = plan.items
    assert reply.payload["purpose"] == "reply"
    assert reply.payload["thread"] == f"{EXPECTATION}/42"
    assert update.payload["purpose"] == "update"
    assert update.payload["blocks"][0]["text"]["text"] == "✅ Recovered: user-service-v2"
    assert len(plan.threads[f"{EXPECTATION}/42"].history) == 2
    assert plan.threads[f"{EXPECTATION}/42"].resolved_at is None  # recovered is not the end


def test_a_rollout_in_a_shared_thread_gets_a_named_reply_and_no_update() -> None:
    thread = Thread(channel="C0IDENTITY", ts="1.0", shared=True)
    plan = slack_plan([held(recovered(), view(), opens=False)], {f"{EXPECTATION}/42": thread})
    [reply] = plan.items
    assert reply.payload["purpose"] == "reply"
    assert "user-service-v2 `42`:" in reply.payload["blocks"][0]["text"]["text"]


def test_completion_marks_the_thread_resolved() -> None:
    thread = Thread(channel="C0IDENTITY", ts="1.0")
    done = view(phase=Phase.COMPLETED)
    plan = slack_plan([held(completed(), done, opens=False)], {f"{EXPECTATION}/42": thread})
    assert plan.threads[f"{EXPECTATION}/42"].resolved_at == NOW


def test_good_news_without_a_thread_plans_nothing() -> None:
    plan = slack_plan([held(recovered(), view(), opens=False)])
    assert plan.items == []
    assert plan.threads == {}


def test_event_level_findings_of_a_channel_become_one_digest_behind_its_rollouts() -> None:
    batch = [held(schema_violation(str(n)), destination="#rollouts") for n in range(40)]
    batch.append(held(schema_violation("x", "PaymentTaken"), destination="#rollouts"))
    batch.append(held(stall(), view()))
    plan = slack_plan(batch)
    parent, digest = plan.items
    assert (parent.payload["purpose"], parent.lane, parent.priority) == (
        "parent",
        "#identity-oncall",
        ROLLOUT_PRIORITY,
    )
    assert (digest.payload["purpose"], digest.lane, digest.priority) == (
        "message",
        "#rollouts",
        NOISE_PRIORITY,
    )
    assert digest.payload["channel"] == "#rollouts"
    assert digest.payload["text"].startswith("41 schema violations of OrderPlaced, PaymentTaken")


def test_replies_and_updates_keep_to_the_lane_of_their_parent() -> None:
    # Slack answered with the channel's id; the lane stays the channel as first routed.
    thread = Thread(channel="C0IDENTITY", ts="1.0", lane="#identity-oncall")
    plan = slack_plan([held(recovered(), view(), opens=False)], {f"{EXPECTATION}/42": thread})
    assert [(item.payload["purpose"], item.lane) for item in plan.items] == [
        ("reply", "#identity-oncall"),
        ("update", "#identity-oncall"),
    ]
    assert plan.threads[f"{EXPECTATION}/42"].lane == "#identity-oncall"
    new = slack_plan([held(stall("7"), view("7"))])
    assert new.threads[f"{EXPECTATION}/7"].lane == "#identity-oncall"


def test_machines_queue_event_findings_behind_rollout_alerts() -> None:
    rollouts, events = group([held(stall(), view()), held(schema_violation("1"))])
    settings = AlertingSettings(
        sinks=(WebhookSettings(url="http://x/hook"), AlertmanagerSettings(url="http://am"))
    )
    for planner, sink in ((webhook.plan, "webhook"), (alertmanager.plan, "alertmanager")):
        plan = planner(rollouts, events, {}, Context(sink, NOW, settings))
        assert [(item.lane, item.priority) for item in plan.items] == [
            ("", ROLLOUT_PRIORITY),
            ("", NOISE_PRIORITY),
        ]


def test_the_same_findings_always_make_the_same_idempotency_keys() -> None:
    batch = [held(stall(str(n)), view(str(n))) for n in range(5)]
    assert [i.key for i in slack_plan(batch).items] == [i.key for i in slack_plan(batch).items]
    [single] = slack_plan(batch[:1]).items
    assert single.key == f"{stall('0').id}:slack:parent"


def am_plan(batch: list[Held], threads: dict[str, Thread] | None = None) -> Plan:
    rollouts, events = group(batch)
    settings = AlertingSettings(sinks=(AlertmanagerSettings(url="http://am"),))
    return alertmanager.plan(
        rollouts, events, threads or {}, Context("alertmanager", NOW, settings)
    )


def test_alertmanager_resolves_only_the_stall_of_the_recovered_step() -> None:
    other = stall(step="MessagingService_Reconfigured")
    first = am_plan([held(stall(), view()), held(other, view())])
    thread = first.threads[f"{EXPECTATION}/42"]
    assert len(thread.firing) == 2
    second = am_plan([held(recovered(), view(), opens=False)], {f"{EXPECTATION}/42": thread})
    [item] = second.items
    [ended] = item.payload["alerts"]
    assert ended["labels"]["step"] == "UserServiceV2_Running"
    assert ended["endsAt"] == "1970-01-12T13:46:40Z"
    [still] = second.threads[f"{EXPECTATION}/42"].firing
    assert still["labels"]["step"] == "MessagingService_Reconfigured"


def test_alertmanager_resolves_everything_when_the_rollout_completes() -> None:
    first = am_plan([held(stall(), view())])
    thread = first.threads[f"{EXPECTATION}/42"]
    done = am_plan([held(completed(), view(), opens=False)], {f"{EXPECTATION}/42": thread})
    [item] = done.items
    assert [alert["labels"]["kind"] for alert in item.payload["alerts"]] == ["stall"]
    assert done.threads[f"{EXPECTATION}/42"].firing == ()


def test_a_webhook_plan_posts_each_finding_of_an_alerted_rollout() -> None:
    rollouts, events = group([held(stall(), view()), held(recovered(), view(), opens=False)])
    settings = AlertingSettings(sinks=(WebhookSettings(url="http://x/hook"),))
    plan = webhook.plan(rollouts, events, {}, Context("webhook", NOW, settings))
    assert [item.payload["body"]["kind"] for item in plan.items] == ["stall", "recovered"]
