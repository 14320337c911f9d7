"""Slack incoming webhooks, generic webhooks and Alertmanager, against a fake receiver over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from sentinel.alerting.alerter import Alerter
from sentinel.alerting.settings import AlertingSettings
from sentinel.alerting.sinks.alertmanager import AlertmanagerSettings
from sentinel.alerting.sinks.slack_webhook import SlackWebhookSettings
from sentinel.alerting.sinks.webhook import WebhookSettings
from sentinel.core.engine.snapshots import Phase
from sentinel.core.timefmt import parse_rfc3339
from sentinel.store.sqlite_outbox import SqliteOutbox

from .fakes import Answer, FakeReceiver, rate_limited
from .helpers import (
    MIN,
    T0,
    alerter,
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

QUICK: dict[str, Any] = {"window": 0.2, "retry_initial": 0.1, "retry_max": 0.4}


def incoming(receiver: FakeReceiver, **extra: Any) -> AlertingSettings:
    hook = SlackWebhookSettings(url=f"{receiver.url}/slack-hook", timeout=2.0)
    return AlertingSettings(sinks=(hook,), **{**QUICK, **extra})


def generic(receiver: FakeReceiver, secret: str | None = "s3cret") -> AlertingSettings:
    hook = WebhookSettings(url=f"{receiver.url}/hook", secret=secret, timeout=2.0)
    return AlertingSettings(sinks=(hook,), **QUICK)


def alertmanager(receiver: FakeReceiver, resend: float = 60.0) -> AlertingSettings:
    sink = AlertmanagerSettings(url=receiver.url, resend_interval=resend, timeout=2.0)
    return AlertingSettings(sinks=(sink,), **QUICK)


# Slack incoming webhooks


async def test_an_incoming_webhook_gets_the_whole_rollout_in_each_message(
    receiver: FakeReceiver,
) -> None:
    sentinel = alerter(incoming(receiver))
    async with sending(sentinel):
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(receiver.served("/slack-hook")) == 1)
        late = view(running_seen=T0 + 12 * MIN)
        sentinel.accept([recovered()], views_of(late), time.time())
        await eventually(lambda: len(receiver.served("/slack-hook")) == 2)
        await settle(0.3)

    first, second = (request.json for request in receiver.served("/slack-hook"))
    assert first["text"].startswith("🔴 Stalled: user-service-v2 rollout 42: UserServiceV2_Running")
    assert first["blocks"][0]["text"]["text"] == "🔴 Stalled: user-service-v2"
    assert "thread_ts" not in first
    # No threads: the second message stands alone, with the whole story and the checklist.
    assert second["blocks"][0]["text"]["text"] == "✅ Recovered: user-service-v2"
    shown = str(second["blocks"])
    assert "10:10:00 Stall" in shown
    assert "10:12:00 Recovered" in shown
    assert "🟡 UserServiceV2_Running: seen at 10:12:00, 2m late" in shown


async def test_an_incoming_webhook_groups_a_burst_into_one_message(receiver: FakeReceiver) -> None:
    sentinel = alerter(incoming(receiver))
    rollouts = [str(number) for number in range(50)]
    async with sending(sentinel):
        sentinel.accept(
            [stall(rollout) for rollout in rollouts],
            views_of(*(view(rollout) for rollout in rollouts)),
            time.time(),
        )
        await eventually(lambda: len(receiver.served("/slack-hook")) == 1)
        await settle(0.4)
    [burst] = receiver.served("/slack-hook")
    assert burst.json["blocks"][0]["text"]["text"] == "🔴 50 rollouts need attention"
    assert len(burst.json["blocks"]) <= 50


@pytest.mark.slow  # waits out real windows and Retry-After: `make test`, not `make unit`
async def test_an_incoming_webhook_honours_retry_after(receiver: FakeReceiver) -> None:
    receiver.fail_next(rate_limited(1))
    sentinel = alerter(incoming(receiver))
    async with sending(sentinel):
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(receiver.served("/slack-hook")) == 1, within=5)
        await settle(0.3)
    limited, posted = receiver.requests
    assert limited.status == 429
    assert posted.at - limited.at >= 1.0
    assert len(receiver.served("/slack-hook")) == 1


@pytest.mark.slow  # waits out real windows and Retry-After: `make test`, not `make unit`
async def test_an_incoming_webhook_delivers_everything_once_after_an_outage(
    receiver: FakeReceiver,
) -> None:
    sentinel = alerter(incoming(receiver, max_messages=10))
    rollouts = ["a", "b", "c"]
    async with sending(sentinel):
        await receiver.outage(1.5)
        sentinel.accept(
            [stall(rollout) for rollout in rollouts],
            views_of(*(view(rollout) for rollout in rollouts)),
            time.time(),
        )
        await eventually(lambda: len(receiver.served("/slack-hook")) == 3, within=6)
        await settle(0.6)
    posted = sorted(request.json["text"].split("rollout ")[1][0] for request in receiver.requests)
    assert posted == ["a", "b", "c"]


async def test_a_revoked_incoming_webhook_stops_the_sink_and_says_why(
    receiver: FakeReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.fail_next(Answer(404, "no_service"))
    sentinel = alerter(incoming(receiver))
    async with sending(sentinel):
        sentinel.accept([stall("a"), stall("b")], views_of(view("a"), view("b")), time.time())
        await eventually(lambda: len(receiver.requests) == 1)
        await settle(0.8)
    assert len(receiver.requests) == 1
    status = sentinel.status()["slack_webhook"]
    assert status["ok"] is False
    assert "no_service" in status["error"]
    assert status["pending"] == 2
    assert len([r for r in caplog.records if "no_service" in r.getMessage()]) == 1


# Generic webhooks


async def test_a_webhook_gets_the_finding_json_signed_with_hmac(receiver: FakeReceiver) -> None:
    sentinel = alerter(generic(receiver))
    finding = stall()
    async with sending(sentinel):
        sentinel.accept([finding], views_of(view()), time.time())
        await eventually(lambda: len(receiver.requests) == 1)
        await settle(0.3)
    [request] = receiver.requests
    assert request.status == 204  # the receiver checked the signature
    assert request.json == finding.to_json_dict()
    expected = hmac.new(b"s3cret", request.raw, hashlib.sha256).hexdigest()
    assert request.headers["X-Sentinel-Signature"] == f"sha256={expected}"
    assert request.headers["X-Sentinel-Delivery"] == f"{finding.id}:webhook:post"
    assert request.headers["Content-Type"] == "application/json"


async def test_a_webhook_without_a_secret_is_not_signed(receiver: FakeReceiver) -> None:
    receiver.secret = None
    sentinel = alerter(generic(receiver, secret=None))
    async with sending(sentinel):
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(receiver.requests) == 1)
    assert "X-Sentinel-Signature" not in receiver.requests[0].headers


async def test_a_webhook_gets_resolutions_only_for_rollouts_it_was_told_about(
    receiver: FakeReceiver,
) -> None:
    sentinel = alerter(generic(receiver))
    done = view(running_seen=T0 + 12 * MIN, messaging_seen=T0 + 15 * MIN, phase=Phase.COMPLETED)
    async with sending(sentinel):
        sentinel.accept([completed("quiet")], views_of(view("quiet")), time.time())
        sentinel.accept([stall()], views_of(view()), time.time())
        sentinel.accept([recovered(), completed()], views_of(done), time.time())
        await eventually(lambda: len(receiver.requests) == 3)
        await settle(0.4)
    kinds = [(request.json["kind"], request.json["rollout"]) for request in receiver.requests]
    assert kinds == [("stall", "42"), ("recovered", "42"), ("completed", "42")]


async def test_a_webhook_gets_event_level_findings_as_one_post_with_a_count(
    receiver: FakeReceiver,
) -> None:
    sentinel = alerter(generic(receiver))
    violations = [schema_violation(f"o{number}") for number in range(12)]
    async with sending(sentinel):
        sentinel.accept(violations, views_of(), time.time())
        await eventually(lambda: len(receiver.requests) == 1)
        await settle(0.4)
    [request] = receiver.requests
    assert request.json["kind"] == "schema_violation"
    assert request.json["count"] == 12
    assert request.json["event_id"] == "o0"
    assert request.json["last_at"] == "2025-06-01T10:00:00Z"


@pytest.mark.slow  # waits out real windows and Retry-After: `make test`, not `make unit`
async def test_a_webhook_delivers_everything_once_after_an_outage(receiver: FakeReceiver) -> None:
    sentinel = alerter(generic(receiver))
    rollouts = [str(number) for number in range(10)]
    async with sending(sentinel):
        await receiver.outage(1.5)
        sentinel.accept(
            [stall(rollout) for rollout in rollouts],
            views_of(*(view(rollout) for rollout in rollouts)),
            time.time(),
        )
        await eventually(lambda: len(receiver.served("/hook", 204)) == 10, within=6)
        await settle(0.6)
    delivered = [request.json["rollout"] for request in receiver.requests]
    assert delivered == rollouts  # in order, each once


@pytest.mark.slow  # waits out real windows and Retry-After: `make test`, not `make unit`
async def test_a_webhook_honours_retry_after_and_backs_off_on_server_errors(
    receiver: FakeReceiver,
) -> None:
    receiver.fail_next(rate_limited(1), Answer(502, "bad gateway"))
    m = metrics()
    sentinel = Alerter(generic(receiver), SqliteOutbox(":memory:"), m)
    async with sending(sentinel):
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(receiver.served("/hook", 204)) == 1, within=5)
        await settle(0.3)
    limited, failed, delivered = receiver.requests
    assert failed.at - limited.at >= 1.0
    assert delivered.at - failed.at >= 0.09
    assert sample(m, "sentinel_alerts_sent_total", sink="webhook", outcome="retried") == 2
    assert sample(m, "sentinel_alerts_sent_total", sink="webhook", outcome="sent") == 1
    assert sample(m, "sentinel_alert_delivery_seconds_count", sink="webhook") == 1


async def test_a_webhook_with_a_wrong_secret_stops_and_is_not_retried(
    receiver: FakeReceiver,
) -> None:
    receiver.secret = "the-other-secret"
    sentinel = alerter(generic(receiver))
    async with sending(sentinel):
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(receiver.requests) == 1)
        await settle(0.8)
    assert len(receiver.requests) == 1
    assert "HTTP 401" in sentinel.status()["webhook"]["error"]


async def test_a_payload_the_webhook_refuses_is_dropped_and_the_rest_delivered(
    receiver: FakeReceiver,
) -> None:
    receiver.fail_next(Answer(422, "cannot use this"))
    sentinel = alerter(generic(receiver))
    async with sending(sentinel):
        sentinel.accept([stall("a"), stall("b")], views_of(view("a"), view("b")), time.time())
        await eventually(lambda: len(receiver.served("/hook", 204)) == 1)
        await settle(0.3)
    assert [request.json["rollout"] for request in receiver.requests] == ["a", "b"]
    status = sentinel.status()["webhook"]
    assert status["ok"] is True
    assert status["failed"] == 1


async def test_a_webhook_delivers_after_a_restart_what_was_left_in_the_outbox(
    receiver: FakeReceiver, tmp_path: Path
) -> None:
    path = tmp_path / "state.db"
    first = Alerter(generic(receiver), SqliteOutbox(path), None)
    now = time.time()
    first.accept([stall("a"), stall("b")], views_of(view("a"), view("b")), now)
    first.flush_due(now)
    second = Alerter(generic(receiver), SqliteOutbox(path), None)
    async with sending(second):
        await eventually(lambda: len(receiver.requests) == 2)
        await settle(0.4)
    assert [request.json["rollout"] for request in receiver.requests] == ["a", "b"]


# Alertmanager


def alerts_posted(receiver: FakeReceiver) -> list[dict[str, Any]]:
    return [alert for request in receiver.served("/api/v2/alerts") for alert in request.json]


async def test_alertmanager_gets_a_firing_alert_labelled_from_the_finding(
    receiver: FakeReceiver,
) -> None:
    sentinel = alerter(alertmanager(receiver))
    async with sending(sentinel):
        before = time.time()
        sentinel.accept([stall()], views_of(view()), before)
        await eventually(lambda: len(receiver.requests) == 1)
        await settle(0.3)
    [alert] = alerts_posted(receiver)
    assert alert["labels"] == {
        "alertname": "RolloutStalled",
        "kind": "stall",
        "expectation": "user-service-v2",
        "rollout": "42",
        "step": "UserServiceV2_Running",
        "owner": "team-identity",
        "severity": "critical",
    }
    assert alert["startsAt"] == "2025-06-01T10:10:00Z"
    assert parse_rfc3339(alert["endsAt"]) > before + 60  # firing: ends only if not re-sent
    assert alert["annotations"]["description"] == (
        "UserServiceV2_Running expected by 10:10 after SchemaV2_Ready at 10:00; nothing seen"
    )


async def test_alertmanager_gets_ends_at_when_the_step_recovers(receiver: FakeReceiver) -> None:
    sentinel = alerter(alertmanager(receiver))
    async with sending(sentinel):
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(receiver.requests) == 1)
        resolved_at = time.time()
        sentinel.accept([recovered()], views_of(view(running_seen=T0 + 12 * MIN)), resolved_at)
        await eventually(lambda: len(receiver.requests) == 2)
        await settle(0.3)
    firing, resolution = alerts_posted(receiver)
    assert resolution["labels"] == firing["labels"]
    assert parse_rfc3339(resolution["endsAt"]) == pytest.approx(resolved_at, abs=0.01)


@pytest.mark.slow  # waits out real windows and Retry-After: `make test`, not `make unit`
async def test_alertmanager_keeps_firing_alerts_alive_until_they_resolve(
    receiver: FakeReceiver,
) -> None:
    sentinel = alerter(alertmanager(receiver, resend=0.3))
    done = view(running_seen=T0 + 12 * MIN, messaging_seen=T0 + 15 * MIN, phase=Phase.COMPLETED)
    async with sending(sentinel):
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(receiver.requests) >= 3, within=3)
        sentinel.accept([completed()], views_of(done), time.time())
        await settle(0.4)
        count = len(receiver.requests)
        await settle(0.8)
        assert len(receiver.requests) == count  # nothing left to re-send
    last = alerts_posted(receiver)[-1]
    assert last["labels"]["kind"] == "stall"
    assert parse_rfc3339(last["endsAt"]) <= time.time()


@pytest.mark.slow  # waits out real windows and Retry-After: `make test`, not `make unit`
async def test_alertmanager_gets_every_alert_once_after_an_outage(
    receiver: FakeReceiver,
) -> None:
    sentinel = alerter(alertmanager(receiver))
    rollouts = ["a", "b", "c"]
    async with sending(sentinel):
        receiver.unavailable(1.5)
        sentinel.accept(
            [stall(rollout) for rollout in rollouts],
            views_of(*(view(rollout) for rollout in rollouts)),
            time.time(),
        )
        await eventually(lambda: len(receiver.served("/api/v2/alerts")) == 3, within=6)
        await settle(0.6)
    assert [alert["labels"]["rollout"] for alert in alerts_posted(receiver)] == rollouts


async def test_alertmanager_event_level_alerts_end_by_themselves(receiver: FakeReceiver) -> None:
    sentinel = alerter(alertmanager(receiver))
    async with sending(sentinel):
        now = time.time()
        sentinel.accept([schema_violation("o1"), schema_violation("o2")], views_of(), now)
        await eventually(lambda: len(receiver.requests) == 1)
    [alert] = alerts_posted(receiver)
    assert alert["labels"] == {
        "alertname": "EventSchemaViolation",
        "kind": "schema_violation",
        "event_type": "OrderPlaced",
        "severity": "warning",
    }
    assert alert["annotations"]["summary"] == "2 schema violations of OrderPlaced at 10:00:00"
    assert parse_rfc3339(alert["endsAt"]) == pytest.approx(now + 600, abs=1)


async def test_alertmanager_refusing_an_alert_drops_only_that_alert(
    receiver: FakeReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sentinel.alerting")
    receiver.fail_next(Answer(400, "bad alert"), Answer(400, "bad alert"))
    sentinel = alerter(alertmanager(receiver))
    rollouts = ["a", "b", "c"]
    async with sending(sentinel):
        sentinel.accept(
            [stall(rollout) for rollout in rollouts],
            views_of(*(view(rollout) for rollout in rollouts)),
            time.time(),
        )
        await eventually(lambda: len(receiver.served("/api/v2/alerts")) == 1)
        await settle(0.3)
    assert sentinel.status()["alertmanager"]["failed"] == 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1  # the same refusal is logged once, then counted
