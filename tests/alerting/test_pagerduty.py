"""PagerDuty Events API v2, through the real alerter, outbox and sender, against a fake
PagerDuty that checks events and answers as PagerDuty documents (202, 400, 429): one alert per
rollout, triggered by its problems and resolved by its end with the same dedup key."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from sentinel.alerting.alerter import Alerter
from sentinel.alerting.drill import TEST_TITLE, TEST_WORDS, drill_finding, plan_drill
from sentinel.alerting.grouper import Context, RolloutGroup
from sentinel.alerting.settings import AlertingSettings
from sentinel.alerting.settings_parser import parse_alerting
from sentinel.alerting.sinks.pagerduty import (
    SINK,
    PagerDutySettings,
    PagerDutyTransport,
    control,
    dedup_key,
    event_action,
    plan,
)
from sentinel.configkit import Section
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.snapshots import Phase
from sentinel.core.errors import ConfigError
from sentinel.store.sqlite_outbox import SqliteOutbox

from .fakes import Answer, server_error
from .helpers import (
    EXPECTATION,
    MIN,
    OWNER,
    T0,
    completed,
    eventually,
    metrics,
    recovered,
    sample,
    schema_violation,
    sending,
    settle,
    stall,
    view,
    views_of,
)
from .vendor_fakes import ENQUEUE, ROUTING_KEY, FakePagerDuty

KEY = f"{EXPECTATION}/42"
QUICK: dict[str, Any] = {"window": 0.2, "retry_initial": 0.1, "retry_max": 0.4}
DONE = view(running_seen=T0 + 12 * MIN, messaging_seen=T0 + 15 * MIN, phase=Phase.COMPLETED)


@pytest.fixture
async def pagerduty() -> Any:
    server = FakePagerDuty()
    await server.start()
    yield server
    await server.stop()


def settings(
    server: FakePagerDuty, routing_key: str = ROUTING_KEY, **extra: Any
) -> AlertingSettings:
    sink = PagerDutySettings(routing_key=routing_key, url=server.enqueue_url, timeout=2.0)
    return AlertingSettings(sinks=(sink,), **{**QUICK, **extra})


def actions(server: FakePagerDuty) -> list[tuple[str, str]]:
    return [(event["event_action"], event["dedup_key"]) for event in server.events()]


async def test_a_stall_triggers_with_the_rollouts_dedup_key_and_completion_resolves_it(
    pagerduty: FakePagerDuty,
) -> None:
    links = {
        "dashboard_url": "https://grafana.example/d/r?var-rollout={rollout}",
        "runbook_url": "https://runbooks.example/{expectation}",
    }
    sentinel = Alerter(settings(pagerduty, **links), SqliteOutbox(":memory:"))
    trace = "https://tempo.example/trace/a38fbda28a2163298e9194b6a2c3cef1"
    finding = stall(trace_id="a38fbda28a2163298e9194b6a2c3cef1", trace_url=trace)
    async with sending(sentinel):
        sentinel.accept([finding], views_of(view()), time.time())
        await eventually(lambda: len(pagerduty.events()) == 1)
        assert pagerduty.incidents[KEY].status == "triggered"
        sentinel.accept([completed()], views_of(DONE), time.time())
        await eventually(lambda: len(pagerduty.events()) == 2)
        await settle(0.3)
    trigger, resolve = pagerduty.events()
    assert trigger == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": KEY,
        "payload": {
            "summary": "Stall: user-service-v2 rollout 42: UserServiceV2_Running expected by "
            "10:10 after SchemaV2_Ready at 10:00; nothing seen",
            "source": EXPECTATION,
            "severity": "critical",
            "timestamp": "2025-06-01T10:10:00Z",
            "class": "stall",
            "component": "UserServiceV2_Running",
            "group": OWNER,
            "custom_details": finding.to_json_dict(),
        },
        "client": "rollout-sentinel",
        "client_url": "https://grafana.example/d/r?var-rollout=42",
        "links": [
            {"href": "https://grafana.example/d/r?var-rollout=42", "text": "Dashboard"},
            {"href": "https://runbooks.example/user-service-v2", "text": "Runbook"},
            {"href": trace, "text": "Open trace"},
        ],
    }
    assert trigger["payload"]["custom_details"]["trace_id"] == "a38fbda28a2163298e9194b6a2c3cef1"
    assert resolve == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": KEY}
    assert pagerduty.incidents[KEY].status == "resolved"


async def test_a_recovery_resolves_only_once_no_problem_of_the_rollout_is_open(
    pagerduty: FakePagerDuty,
) -> None:
    late = Finding(Kind.DEADLINE_EXCEEDED, T0 + 30 * MIN, EXPECTATION, "7", deadline=T0 + 30 * MIN)
    sentinel = Alerter(settings(pagerduty), SqliteOutbox(":memory:"))
    seen = view(running_seen=T0 + 12 * MIN)
    async with sending(sentinel):
        # A stall that recovers resolves; the same rollout's next problem triggers again.
        sentinel.accept([stall()], views_of(view()), time.time())
        sentinel.accept([recovered()], views_of(seen), time.time())
        await eventually(lambda: len(pagerduty.events()) == 2)
        sentinel.accept([stall("7"), late], views_of(view("7")), time.time())
        seven_seen = view("7", running_seen=T0 + 12 * MIN)
        sentinel.accept([recovered("7")], views_of(seven_seen), time.time())
        await eventually(lambda: len(pagerduty.events()) == 4)
        sentinel.accept([completed("7")], views_of(DONE), time.time())
        await eventually(lambda: len(pagerduty.events()) == 5)
        await settle(0.3)
    seven = f"{EXPECTATION}/7"
    assert actions(pagerduty) == [
        ("trigger", KEY),
        ("resolve", KEY),
        ("trigger", seven),
        ("trigger", seven),  # the deadline: the recovery of the stall leaves it open
        ("resolve", seven),  # the rollout's end
    ]
    assert pagerduty.incidents[seven].triggers == 2
    assert {incident.status for incident in pagerduty.incidents.values()} == {"resolved"}


async def test_a_resolve_after_a_restart_closes_what_was_triggered_before_it(
    pagerduty: FakePagerDuty, tmp_path: Path
) -> None:
    """The open problems are kept with the rollout in the outbox (the state file)."""
    path = tmp_path / "state.db"
    first = Alerter(settings(pagerduty), SqliteOutbox(path))
    async with sending(first):
        first.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(pagerduty.events()) == 1)
    second = Alerter(settings(pagerduty), SqliteOutbox(path))
    async with sending(second):
        second.accept([stall()], views_of(view()), time.time())  # raised again: not re-sent
        second.accept([completed()], views_of(DONE), time.time())
        await eventually(lambda: len(pagerduty.events()) == 2)
        await settle(0.3)
    assert actions(pagerduty) == [("trigger", KEY), ("resolve", KEY)]
    assert pagerduty.incidents[KEY].status == "resolved"


async def test_good_news_of_a_rollout_never_alerted_sends_nothing(
    pagerduty: FakePagerDuty,
) -> None:
    sentinel = Alerter(settings(pagerduty), SqliteOutbox(":memory:"))
    async with sending(sentinel):
        sentinel.accept([completed("quiet")], views_of(DONE), time.time())
        await settle(0.4)
    assert pagerduty.requests == []


async def test_a_429_is_retried_and_nothing_is_doubled_or_lost(pagerduty: FakePagerDuty) -> None:
    # PagerDuty documents 429 without a Retry-After: the lane backs off from retry.initial.
    pagerduty.fail_next(Answer(429, {"status": "throttle exceeded"}))
    m = metrics()
    sentinel = Alerter(settings(pagerduty), SqliteOutbox(":memory:"), m)
    async with sending(sentinel):
        sentinel.accept([stall("a"), stall("b")], views_of(view("a"), view("b")), time.time())
        sentinel.accept([completed("a")], views_of(DONE), time.time())
        await eventually(lambda: len(pagerduty.events()) == 3)
        await settle(0.5)
    throttled, *_ = pagerduty.requests
    assert throttled.status == 429
    assert len(pagerduty.requests) == 4
    # Each once, and a rollout's resolve after its trigger (one flush: grouped per rollout).
    assert actions(pagerduty) == [
        ("trigger", f"{EXPECTATION}/a"),
        ("resolve", f"{EXPECTATION}/a"),
        ("trigger", f"{EXPECTATION}/b"),
    ]
    assert sample(m, "sentinel_alerts_sent_total", sink="pagerduty", outcome="retried") == 1
    assert sample(m, "sentinel_alerts_sent_total", sink="pagerduty", outcome="sent") == 3
    status = sentinel.status()["pagerduty"]
    assert (status["ok"], status["pending"], status["failed"]) == (True, 0, 0)


async def test_a_429_with_retry_after_waits_that_long(pagerduty: FakePagerDuty) -> None:
    pagerduty.fail_next(Answer(429, {"status": "throttle exceeded"}, {"Retry-After": "0.3"}))
    sentinel = Alerter(settings(pagerduty, retry_initial=0.01), SqliteOutbox(":memory:"))
    async with sending(sentinel):
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(pagerduty.events()) == 1)
    throttled, accepted = pagerduty.requests
    assert accepted.at - throttled.at >= 0.29


async def test_server_errors_are_retried_with_back_off(pagerduty: FakePagerDuty) -> None:
    pagerduty.fail_next(server_error(), Answer(503, "unavailable"))
    sentinel = Alerter(settings(pagerduty), SqliteOutbox(":memory:"))
    async with sending(sentinel):
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(pagerduty.events()) == 1, within=3)
        await settle(0.3)
    first, second, delivered = pagerduty.requests
    assert second.at - first.at >= 0.09
    assert delivered.at - second.at >= 0.19  # doubled
    assert actions(pagerduty) == [("trigger", KEY)]


async def test_an_invalid_event_is_dropped_counted_and_the_rest_delivered(
    pagerduty: FakePagerDuty,
) -> None:
    pagerduty.fail_next(
        Answer(
            400,
            {
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": ["'payload.summary' is longer than 1024 characters"],
            },
        )
    )
    m = metrics()
    sentinel = Alerter(settings(pagerduty), SqliteOutbox(":memory:"), m)
    async with sending(sentinel):
        sentinel.accept([stall("a"), stall("b")], views_of(view("a"), view("b")), time.time())
        await eventually(lambda: len(pagerduty.events()) == 1)
        await settle(0.3)
    assert actions(pagerduty) == [("trigger", f"{EXPECTATION}/b")]
    assert (
        sample(m, "sentinel_alerts_sent_total", sink="pagerduty", outcome="dropped_permanent") == 1
    )
    status = sentinel.status()["pagerduty"]
    assert (status["ok"], status["failed"]) == (True, 1)
    assert "HTTP 400" in status["last_error"]


async def test_a_routing_key_pagerduty_refuses_stops_the_sink_and_keeps_the_alerts(
    pagerduty: FakePagerDuty,
) -> None:
    sentinel = Alerter(settings(pagerduty, routing_key="not-a-key"), SqliteOutbox(":memory:"))
    async with sending(sentinel):
        sentinel.accept([stall("a"), stall("b")], views_of(view("a"), view("b")), time.time())
        await eventually(lambda: len(pagerduty.requests) == 1)
        await settle(0.5)
    assert len(pagerduty.requests) == 1
    status = sentinel.status()["pagerduty"]
    assert status["ok"] is False
    assert "routing_key" in status["error"] and "pagerduty.routing_key_env" in status["error"]
    assert (status["pending"], status["failed"]) == (2, 0)  # sent once the key is fixed


async def test_what_pagerduty_limits_is_cut_to_fit_and_accepted(pagerduty: FakePagerDuty) -> None:
    step, rollout = "S" * 2000, "r" * 400
    sentinel = Alerter(settings(pagerduty), SqliteOutbox(":memory:"))
    async with sending(sentinel):
        sentinel.accept([stall(rollout, step=step)], views_of(), time.time())
        await eventually(lambda: len(pagerduty.events()) == 1)
    [event] = pagerduty.events()
    assert len(event["payload"]["summary"]) == 1024
    assert event["payload"]["summary"].endswith("…")
    assert len(event["dedup_key"]) == 255
    assert event["dedup_key"] == dedup_key(EXPECTATION, rollout)
    assert event["dedup_key"].startswith(f"{EXPECTATION}/rrr")


async def test_event_level_findings_trigger_one_alert_per_kind_and_event_type(
    pagerduty: FakePagerDuty,
) -> None:
    sentinel = Alerter(settings(pagerduty), SqliteOutbox(":memory:"))
    violations = [schema_violation(f"o{number}") for number in range(12)]
    async with sending(sentinel):
        sentinel.accept([*violations, stall()], views_of(view()), time.time())
        await eventually(lambda: len(pagerduty.events()) == 2)
        await settle(0.3)
    rollout, event = pagerduty.events()  # the rollout's alert first
    assert rollout["dedup_key"] == KEY
    assert event["dedup_key"] == "schema_violation:OrderPlaced"
    assert event["payload"]["summary"] == (
        "12 schema violations of OrderPlaced at 10:00:00: OrderPlaced o0 from orders fails its "
        "schema: 'amount' is a required property"
    )
    assert event["payload"]["severity"] == "warning"
    assert event["payload"]["component"] == "OrderPlaced"
    assert event["payload"]["custom_details"]["count"] == 12
    assert pagerduty.requests[-1].path == ENQUEUE


def test_the_acknowledge_hook_is_an_event_on_the_rollouts_key() -> None:
    """What an acknowledgement (contract section 14) sends: no payload, the rollout's key."""
    assert control("acknowledge", dedup_key(EXPECTATION, "42")) == {
        "event_action": "acknowledge",
        "dedup_key": KEY,
    }
    action, open_ = event_action(stall(), ())
    assert action == "trigger"
    assert event_action(recovered(), open_) == ("resolve", ())
    assert event_action(completed(), ()) == (None, ())


def test_good_news_of_a_rollout_not_alerted_plans_nothing() -> None:
    ctx = Context("pagerduty", T0, AlertingSettings())
    group = RolloutGroup(KEY, EXPECTATION, "42", "", False, (completed(),), DONE, T0)
    assert plan([group], [], {}, ctx).items == []


def read(text: str) -> AlertingSettings:
    return parse_alerting(Section(yaml.safe_load(text), "alerting", "config"))


def test_the_pagerduty_section_is_read_with_messages_that_name_the_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PD_ROUTING_KEY", ROUTING_KEY)
    [sink] = read("pagerduty: {routing_key_env: PD_ROUTING_KEY}").sinks
    assert sink == PagerDutySettings(routing_key=ROUTING_KEY)
    assert sink.url == "https://events.pagerduty.com/v2/enqueue"
    eu = "https://events.eu.pagerduty.com/v2/enqueue"
    [sink] = read(f"pagerduty: {{routing_key_env: PD_ROUTING_KEY, url: '{eu}'}}").sinks
    assert isinstance(sink, PagerDutySettings) and sink.url == eu
    monkeypatch.delenv("PD_ROUTING_KEY")
    for text, message in [
        (
            "pagerduty: {routing_key_env: PD_ROUTING_KEY}",
            "alerting.pagerduty.routing_key_env: environment variable PD_ROUTING_KEY is not set",
        ),
        (
            "pagerduty: {}",
            "alerting.pagerduty.routing_key: is required (or routing_key_env: VARIABLE_NAME)",
        ),
        (
            "pagerduty: {routing_key: k, severity: high}",
            "alerting.pagerduty.severity: unknown key",
        ),
        (
            "pagerduty: {routing_key: k, url: 'events.pagerduty.com'}",
            "alerting.pagerduty.url: must be an http:// or https:// URL",
        ),
        (
            "pagerdty: {routing_key: k}",
            "alerting.pagerdty: unknown key (did you mean 'pagerduty'?)",
        ),
    ]:
        with pytest.raises(ConfigError) as caught:
            read(text)
        assert str(caught.value) == f"config: {message}"


async def test_the_test_alert_is_an_info_trigger_marked_as_a_test(
    pagerduty: FakePagerDuty,
) -> None:
    """`sentinel alerts test`: the sink's own plan of the drill finding, marked by mark_test,
    delivered by its own transport; PagerDuty accepts it."""
    configured = PagerDutySettings(routing_key=ROUTING_KEY, url=pagerduty.enqueue_url)
    finding = drill_finding(time.time())
    drilled = plan_drill(SINK.plan, "", finding, AlertingSettings(), "pagerduty")
    [item] = [SINK.mark_test(configured, planned, finding.at) for planned in drilled.items]
    transport = PagerDutyTransport(configured)
    try:
        await transport.deliver(item, SqliteOutbox(":memory:"), finding.at)
    finally:
        await transport.aclose()
    [event] = pagerduty.events()
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == dedup_key(TEST_TITLE, finding.rollout or "")
    assert event["payload"]["summary"] == TEST_WORDS
    assert (event["payload"]["severity"], event["payload"]["class"]) == ("info", "test")
    assert event["payload"]["custom_details"]["test"] is True
