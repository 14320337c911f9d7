"""The Slack bot sink against a fake Slack Web API over real HTTP, with slack-sdk's own client."""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sentinel.alerting.alerter import Alerter
from sentinel.alerting.sinks.slack import SlackSettings
from sentinel.alerting.sinks.webhook import WebhookSettings
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.snapshots import Phase, RolloutView, StepStatus
from sentinel.store.sqlite_outbox import SqliteOutbox

from .fakes import FakeReceiver, FakeSlack, rate_limited, server_error
from .helpers import (
    EXPECTATION,
    MIN,
    OWNER,
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
    slack_settings,
    stall,
    view,
    views_of,
)


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every text a person sees in the blocks, in order."""
    found = []
    for block in blocks:
        if "text" in block:
            found.append(block["text"]["text"])
        found.extend(field["text"] for field in block.get("fields", []))
        found.extend(
            element["text"]
            for element in block.get("elements", [])
            if isinstance(element.get("text"), str)
        )
    return found


def everything(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(texts(blocks))


async def test_the_first_stall_posts_one_parent_message_in_the_owners_channel(
    slack_api: FakeSlack,
) -> None:
    settings = slack_settings(
        slack_api.base_url,
        dashboard_url="https://grafana.example/d/rollouts?var-rollout={rollout}",
        runbook_url="https://runbooks.example/{expectation}",
    )
    sentinel = alerter(settings)
    async with sending(sentinel):
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(slack_api.messages) == 1)
        await settle(0.3)

    [message] = slack_api.messages
    assert message.channel == "C0IDENTITY"  # team-identity routes to #identity-oncall
    assert message.thread_ts is None
    assert "user-service-v2" in message.text
    assert "42" in message.text
    assert "UserServiceV2_Running" in message.text
    blocks = message.blocks
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "🔴 Stalled: user-service-v2"},
    }
    shown = everything(blocks)
    assert (
        "UserServiceV2_Running expected by 10:10 after SchemaV2_Ready at 10:00; nothing seen"
        in shown
    )
    assert "✅ SchemaV2_Ready: seen at 10:00:00" in shown
    assert "🔴 UserServiceV2_Running: due by 10:10, nothing seen yet · owner team-users" in shown
    assert "⚪ MessagingService_Reconfigured: waits for UserServiceV2_Running" in shown
    assert "*Owner*\nteam-identity" in shown
    assert "*Rollout*\n`42`" in shown
    [actions] = [block for block in blocks if block["type"] == "actions"]
    assert [(button["text"]["text"], button["url"]) for button in actions["elements"]] == [
        ("Dashboard", "https://grafana.example/d/rollouts?var-rollout=42"),
        ("Runbook", "https://runbooks.example/user-service-v2"),
    ]


async def test_later_findings_reply_in_the_thread_and_the_parent_is_updated_in_place(
    slack_api: FakeSlack,
) -> None:
    sentinel = alerter(slack_settings(slack_api.base_url))

    def parent_updates() -> int:
        return slack_api.messages[0].updates

    async with sending(sentinel):
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(slack_api.messages) == 1)
        late = view(running_seen=T0 + 12 * MIN)
        sentinel.accept([recovered()], views_of(late), time.time())
        await eventually(lambda: len(slack_api.messages) == 2 and parent_updates() == 1)
        done = view(running_seen=T0 + 12 * MIN, messaging_seen=T0 + 15 * MIN, phase=Phase.COMPLETED)
        sentinel.accept([completed()], views_of(done), time.time())
        await eventually(lambda: len(slack_api.messages) == 3 and parent_updates() == 2)
        await settle(0.3)

    parent, *replies = slack_api.messages
    assert [reply.thread_ts for reply in replies] == [parent.ts, parent.ts]
    assert "*Recovered:* UserServiceV2_Running seen at 10:12:00, 2m after it was due" in (
        everything(replies[0].blocks)
    )
    assert "*Completed:* all 3 steps seen; took 15m" in everything(replies[1].blocks)
    assert parent.updates == 2
    assert parent.blocks[0]["text"]["text"] == "✅ Completed: user-service-v2"
    shown = everything(parent.blocks)
    assert "🟡 UserServiceV2_Running: seen at 10:12:00, 2m late" in shown
    assert "✅ MessagingService_Reconfigured: seen at 10:15:00" in shown
    # The update keeps what the alert was about, then what changed since.
    assert shown.index("10:10:00 Stall") < shown.index("10:12:00 Recovered")
    assert shown.index("10:12:00 Recovered") < shown.index("10:15:00 Completed")
    assert "Resolved 2025-06-01 10:15:00 UTC" in shown


async def test_good_news_about_a_rollout_never_alerted_posts_nothing(slack_api: FakeSlack) -> None:
    sentinel = alerter(slack_settings(slack_api.base_url))
    async with sending(sentinel):
        sentinel.accept([completed()], views_of(view(phase=Phase.COMPLETED)), time.time())
        await settle(0.6)
    assert slack_api.requests == []


async def test_a_burst_of_fifty_stalls_arrives_as_one_message_listing_them(
    slack_api: FakeSlack,
) -> None:
    sentinel = alerter(slack_settings(slack_api.base_url))
    rollouts = [str(number) for number in range(50)]
    async with sending(sentinel):
        sentinel.accept(
            [stall(rollout) for rollout in rollouts],
            views_of(*(view(rollout) for rollout in rollouts)),
            time.time(),
        )
        await eventually(lambda: len(slack_api.messages) == 1)
        await settle(0.4)
        assert len(slack_api.messages) == 1
        late = view("7", running_seen=T0 + 12 * MIN)
        sentinel.accept([recovered("7")], views_of(late), time.time())
        await eventually(lambda: len(slack_api.messages) == 2)
        await settle(0.3)

    burst, reply = slack_api.messages
    assert burst.blocks[0]["text"]["text"] == "🔴 50 rollouts need attention"
    shown = everything(burst.blocks)
    assert "*50* user-service-v2 rollouts: Stall of UserServiceV2_Running" in shown
    for rollout in rollouts:
        assert f"*user-service-v2* `{rollout}` Stalled" in shown
    assert "50 rollouts need attention: user-service-v2 rollout 0" in burst.text
    # Each rollout's later findings go to the burst's thread, named; the list is not rewritten.
    assert reply.thread_ts == burst.ts
    assert "user-service-v2 `7`: *Recovered:*" in everything(reply.blocks)
    assert burst.updates == 0


@pytest.mark.slow  # waits out real windows and Retry-After: `make test`, not `make unit`
async def test_a_429_with_retry_after_is_honoured_and_the_alert_posted_once(
    slack_api: FakeSlack,
) -> None:
    m = metrics()
    sentinel = Alerter(slack_settings(slack_api.base_url), SqliteOutbox(":memory:"), m)
    slack_api.fail_next(rate_limited(1))
    async with sending(sentinel):
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(slack_api.messages) == 1, within=5)
        await settle(0.3)

    limited, posted = slack_api.requests
    assert limited.status == 429
    assert posted.status == 200
    assert posted.at - limited.at >= 1.0
    assert len(slack_api.messages) == 1
    assert sample(m, "sentinel_alerts_sent_total", sink="slack", outcome="retried") == 1
    assert sample(m, "sentinel_alerts_sent_total", sink="slack", outcome="sent") == 1


@pytest.mark.slow  # waits out real windows and Retry-After: `make test`, not `make unit`
async def test_a_rate_limited_slack_does_not_hold_up_another_sink(
    slack_api: FakeSlack, receiver: FakeReceiver
) -> None:
    settings = slack_settings(
        slack_api.base_url, others=(WebhookSettings(url=f"{receiver.url}/hook", secret="s3cret"),)
    )
    sentinel = alerter(settings)
    slack_api.fail_next(rate_limited(2))
    async with sending(sentinel):
        started = time.monotonic()
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(receiver.served("/hook", 204)) == 1)
        assert time.monotonic() - started < 1.5
        assert slack_api.messages == []
        await eventually(lambda: len(slack_api.messages) == 1, within=5)


@pytest.mark.slow  # waits out real windows and Retry-After: `make test`, not `make unit`
@pytest.mark.parametrize("kind", ["connection refused", "503 answers"])
async def test_after_an_outage_every_alert_arrives_exactly_once(
    slack_api: FakeSlack, kind: str
) -> None:
    sentinel = alerter(slack_settings(slack_api.base_url, max_messages=10))
    rollouts = ["a", "b", "c"]
    stalled = views_of(*(view(rollout) for rollout in rollouts))
    late = views_of(*(view(rollout, running_seen=T0 + 12 * MIN) for rollout in rollouts))
    async with sending(sentinel):
        sentinel.accept([stall("a")], stalled, time.time())
        await eventually(lambda: len(slack_api.messages) == 1)
        if kind == "connection refused":
            await slack_api.outage(2.0)
        else:
            slack_api.unavailable(2.0)
        sentinel.accept([stall("b"), stall("c")], stalled, time.time())
        await settle(0.3)
        sentinel.accept([recovered("a"), recovered("b")], late, time.time())
        await eventually(lambda: len(slack_api.messages) == 5, within=8)
        await settle(0.6)

    parents = slack_api.parents()
    assert sorted(message.text.split("rollout ")[1][0] for message in parents) == ["a", "b", "c"]
    for parent in parents:
        expected = 0 if "rollout c" in parent.text else 1
        assert len(slack_api.replies(parent)) == expected
        assert parent.updates == expected
    assert len(slack_api.messages) == 5
    assert sentinel.status()["slack"]["pending"] == 0


async def test_server_errors_back_off_and_then_deliver(slack_api: FakeSlack) -> None:
    sentinel = alerter(slack_settings(slack_api.base_url))
    slack_api.fail_next(server_error(), server_error(), server_error())
    async with sending(sentinel):
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(slack_api.messages) == 1)
    attempts = [request.at for request in slack_api.requests]
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    # 0.1 s, 0.2 s, 0.4 s: doubling from retry.initial up to retry.max.
    assert len(gaps) == 3
    assert gaps[0] >= 0.09
    assert gaps[1] >= 0.19
    assert gaps[2] >= 0.39


@pytest.mark.slow  # waits out real windows and Retry-After: `make test`, not `make unit`
async def test_a_restart_delivers_what_the_outbox_held_exactly_once(
    slack_api: FakeSlack, tmp_path: Path
) -> None:
    path = tmp_path / "state.db"
    settings = slack_settings(slack_api.base_url)
    first = Alerter(settings, SqliteOutbox(path), None)
    async with sending(first):
        first.accept([stall("a")], views_of(view("a")), time.time())
        await eventually(lambda: len(slack_api.messages) == 1)
    # Still in the outbox when the process stops: a reply and update due, and a stall still in
    # its grouping window.
    now = time.time()
    first.accept([recovered("a")], views_of(view("a", running_seen=T0 + 12 * MIN)), now)
    first.flush_due(now + 1)
    first.accept([stall("b")], views_of(view("b")), now + 1)

    second = Alerter(settings, SqliteOutbox(path), None)
    assert second.status()["slack"]["pending"] == 3
    async with sending(second):
        await eventually(lambda: len(slack_api.messages) == 3)
        await settle(0.6)

    parent_a, reply, parent_b = slack_api.messages
    assert reply.thread_ts == parent_a.ts  # the thread survives the restart
    assert parent_a.updates == 1
    assert "rollout b" in parent_b.text and parent_b.thread_ts is None
    assert second.status()["slack"]["pending"] == 0


async def test_a_bad_token_is_logged_once_shown_in_status_and_not_retried(
    slack_api: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    m = metrics()
    settings = slack_settings(slack_api.base_url, token="xoxb-revoked")
    sentinel = Alerter(settings, SqliteOutbox(":memory:"), m)
    caplog.set_level(logging.INFO, logger="sentinel.alerting")
    async with sending(sentinel):
        sentinel.accept([stall("a"), stall("b")], views_of(view("a"), view("b")), time.time())
        await eventually(lambda: len(slack_api.requests) == 1)
        await settle(0.3)
        sentinel.accept([stall("c")], views_of(view("c")), time.time())
        await settle(0.8)

    assert len(slack_api.requests) == 1
    status = sentinel.status()["slack"]
    assert status["ok"] is False
    assert status["error"].startswith("invalid_auth: the bot token is not valid")
    assert status["since"] is not None
    assert status["pending"] == 3  # kept for when the token is fixed
    logged = [record for record in caplog.records if "invalid_auth" in record.getMessage()]
    assert len(logged) == 1
    assert logged[0].levelno == logging.ERROR
    assert sample(m, "sentinel_alert_sink_failing", sink="slack") == 1
    assert sample(m, "sentinel_alerts_sent_total", sink="slack", outcome="failed") == 1
    assert sample(m, "sentinel_alert_outbox_depth", sink="slack") == 3


async def test_an_unknown_channel_drops_that_alert_and_delivers_the_others(
    slack_api: FakeSlack,
) -> None:
    settings = slack_settings(slack_api.base_url)
    [slack] = settings.sinks
    assert isinstance(slack, SlackSettings)
    settings = replace(settings, sinks=(replace(slack, channels={OWNER: "#no-such-channel"}),))
    m = metrics()
    sentinel = Alerter(settings, SqliteOutbox(":memory:"), m)
    lost = stall("a")
    routed = stall("b", owner="team-payments")
    async with sending(sentinel):
        sentinel.accept([lost, routed], views_of(view("a"), view("b")), time.time())
        await eventually(lambda: len(slack_api.messages) == 1)
        sentinel.accept([recovered("a")], views_of(view("a", running_seen=T0)), time.time())
        await settle(0.8)

    [message] = slack_api.messages
    assert message.channel == "C0ROLLOUTS"
    assert "rollout b" in message.text
    status = sentinel.status()["slack"]
    assert status["ok"] is True
    assert status["failed"] == 2  # the parent, and the reply that had nowhere to go
    assert "channel_not_found" in status["last_error"]
    assert sample(m, "sentinel_alerts_sent_total", sink="slack", outcome="dropped_permanent") == 2


async def test_a_rollout_with_eighty_steps_stays_within_slacks_limits(
    slack_api: FakeSlack,
) -> None:
    steps = tuple(
        StepStatus(
            f"Service{number:02d}_Deployed_In_Region_With_A_Rather_Long_Event_Type_Name",
            f"team-{number % 7}",
            () if number == 0 else (f"Service{number - 1:02d}",),
            T0 + number * 60 if number < 40 else None,
            T0 + number * 60,
            number == 40,
        )
        for number in range(80)
    )
    big = RolloutView(EXPECTATION, "big", OWNER, Phase.OPEN, T0, None, steps)
    finding = stall("big", step=steps[40].step, deadline=T0 + 40 * 60, at=T0 + 45 * 60)
    sentinel = alerter(slack_settings(slack_api.base_url))
    async with sending(sentinel):
        sentinel.accept([finding], views_of(big), time.time())
        await eventually(lambda: len(slack_api.requests) == 1)
        await settle(0.3)

    [message] = slack_api.messages  # the fake refuses what Slack would refuse
    assert len(message.blocks) <= 50
    for text in texts(message.blocks):
        assert len(text) <= 3000
    shown = everything(message.blocks)
    assert "✅ 40 steps seen on time" in shown
    assert f"🔴 {steps[40].step}: due by 10:40, overdue by 5m, nothing seen yet" in shown
    assert "… and 2 more" in shown


@pytest.mark.slow  # waits out real windows and Retry-After: `make test`, not `make unit`
async def test_event_level_findings_arrive_as_one_digest_per_channel_and_interval(
    slack_api: FakeSlack,
) -> None:
    sentinel = alerter(slack_settings(slack_api.base_url, event_interval=1.0))
    orders = [schema_violation(f"o{number}") for number in range(30)]
    payments = [schema_violation(f"p{number}", "PaymentTaken") for number in range(5)]
    async with sending(sentinel):
        sentinel.accept(orders + payments, views_of(), time.time())
        await eventually(lambda: len(slack_api.messages) == 1)
        sentinel.accept(
            [schema_violation(f"later{number}") for number in range(7)], views_of(), time.time()
        )
        await eventually(lambda: len(slack_api.messages) == 2, within=3)
        await settle(0.3)
    # When the server got them: the test's polling may notice the first one late on a busy
    # machine (CI saw 0.63 s between the two noticed).
    first, second = (request.at for request in slack_api.served("/api/chat.postMessage"))
    gap = second - first

    digest, later = slack_api.messages
    assert digest.text.startswith("35 schema violations of OrderPlaced, PaymentTaken")
    assert digest.blocks[0]["text"]["text"] == "🟠 35 schema violations"
    assert "'amount' is a required property" in everything(digest.blocks)
    assert "… and 32 more" in everything(digest.blocks)
    assert later.text.startswith("7 schema violations of OrderPlaced")
    assert later.blocks[0]["text"]["text"] == "🟠 7 schema violations of OrderPlaced"
    assert gap >= 0.7  # not before the interval since the first message is over
    assert digest.channel == "C0ROLLOUTS"


async def test_a_bus_silence_alerts_once_per_interval(slack_api: FakeSlack) -> None:
    sentinel = alerter(slack_settings(slack_api.base_url))
    silent = Finding(Kind.BUS_SILENT, T0, reason="no record for 5m on rollout.events")
    async with sending(sentinel):
        sentinel.accept([silent, replace(silent, at=T0 + 60)], views_of(), time.time())
        await eventually(lambda: len(slack_api.messages) == 1)
        await settle(0.3)
    [message] = slack_api.messages
    assert message.blocks[0]["text"]["text"] == "🔴 2 bus silences"
    assert "no record for 5m on rollout.events" in everything(message.blocks)
