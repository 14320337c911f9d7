"""`POST /slack/actions` on the sentinel's real HTTP server (contract section 14): clicks on the
bot's buttons, signed exactly as Slack signs them (`v0=` + HMAC-SHA256 of
`v0:{timestamp}:{body}` with the app's signing secret, in X-Slack-Signature and
X-Slack-Request-Timestamp), posted as Slack posts them (a form with one `payload` field of
`block_actions` JSON). A valid click acknowledges or snoozes the rollout and the parent on the
fake Slack says who; a bad signature, a stale timestamp, a replay and a forged rollout key are
refused and change nothing. The pipeline, engine, state file and alerter are `sentinel run`'s;
the clock is driven."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import yaml
from engine.helpers import T0, user_service
from pipeline.helpers import record
from prometheus_client import CollectorRegistry

from sentinel.alerting.alerter import Alerter
from sentinel.alerting.reminders import open_stalls, snoozes
from sentinel.alerting.settings import AlertingSettings
from sentinel.alerting.sinks.slack_buttons import ACKNOWLEDGE
from sentinel.commands.demo_command import slack_section
from sentinel.config import BasicAuth, HttpSettings, load_config
from sentinel.core.engine.actions import Action, Outcome, Requested, Verb
from sentinel.core.engine.engine import Engine
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.events.envelope import Envelope
from sentinel.core.pipeline.pipeline import Pipeline, WallClock
from sentinel.local_port import free_port
from sentinel.runtime.wiring import build_watcher
from sentinel.store.sqlite import SqliteStore
from sentinel.web import slack_actions
from sentinel.web.api import mount
from sentinel.web.cluster import Cluster
from sentinel.web.feed import LiveFeed
from sentinel.web.http import HttpServer
from sentinel.web.local import Replica
from sentinel.web.peers import Peers
from sentinel.web.slack_actions import mount_slack_actions

from .fakes import FakeSlack, SlackMessage
from .helpers import MIN, eventually, sending, settle
from .test_acted import SECRET, buttons, interactive, text_of

EXPECTATION = "user-service-v2"
DUE = T0 + 10 * MIN
AUTH = BasicAuth("viewer", "pa55word")
SHIPPED = Path(__file__).resolve().parents[2] / "expectations"


class Served:
    """One sentinel as `sentinel run` wires it, its HTTP server on a free port, fed by the test:
    an action is taken in a batch of its own, as the watcher's woken loop takes it."""

    def __init__(
        self, settings: AlertingSettings, path: Path, port: int = 0, peers: tuple[str, ...] = ()
    ) -> None:
        self.now = T0
        self.store = SqliteStore(path)
        self.engine = Engine([user_service()])
        self.alerter = Alerter(
            settings,
            self.store.outbox(),
            clock=lambda: self.now,
            stalls=functools.partial(open_stalls, self.engine),
            snoozes=functools.partial(snoozes, self.engine),
        )
        self.pipeline = Pipeline(self.engine, self.store, BusDecoder(), self.alerter)
        self.http = HttpServer("127.0.0.1", port, CollectorRegistry())
        self.http.health = self.http.ready = lambda: (True, {})
        feed = LiveFeed(self.engine)
        replica = Replica(self.engine, self.store, feed, lambda: self.now)
        replica.actor = self.take
        self.replica = replica
        cluster = Cluster(replica, Peers(peers, lambda: self.http.port, 1.0, AUTH))
        http = HttpSettings(basic_auth=AUTH)
        mount(self.http.app, cluster, feed, AUTH, http)
        mount_slack_actions(self.http.app, cluster, http, SECRET, lambda: self.now)
        self.taken: list[Outcome] = []

    async def take(self, expectation: str, key: str, action: Action) -> Outcome:
        kept = self.pipeline.process(
            [], WallClock(self.now), actions=[Requested(expectation, key, action)]
        )
        self.taken += kept.acted
        return kept.acted[0]

    def at(self, now: float, *events: str) -> None:
        self.now = now
        records = [
            record(Envelope(event, f"e-{event}", "/tests", now, {"rollout_id": "r1"}), i)
            for i, event in enumerate(events)
        ]
        self.pipeline.process(records, WallClock(now))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.port}/slack/actions"

    def actions(self) -> tuple[Action, ...]:
        return self.engine.rollouts[EXPECTATION]["r1"].actions


@pytest.fixture
async def served(slack_api: FakeSlack, tmp_path: Path) -> AsyncIterator[Served]:
    """A sentinel that has told a stall of rollout r1 in Slack, its parent posted."""
    sentinel = Served(interactive(slack_api.base_url), tmp_path / "state.db")
    await sentinel.http.start()
    async with sending(sentinel.alerter):
        sentinel.at(T0, "SchemaV2_Ready")
        sentinel.at(DUE + 5)
        sentinel.at(DUE + 6)
        await eventually(lambda: len(slack_api.messages) == 1)
        sentinel.now = DUE + MIN
        yield sentinel
    await sentinel.http.stop()
    sentinel.store.close()


def click(parent: SlackMessage, action_id: str, **change: Any) -> dict[str, Any]:
    """Slack's `block_actions` payload of a click on the parent's button `action_id`."""
    button = buttons(parent)[action_id]
    return {
        "type": "block_actions",
        "user": {"id": "U0ALICE", "username": "alice", "name": "alice", "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "token": "verification-token-unused",
        "container": {
            "type": "message",
            "message_ts": parent.ts,
            "channel_id": parent.channel,
            "is_ephemeral": False,
        },
        "trigger_id": "123.456.abc",
        "team": {"id": "T0TEAM", "domain": "example"},
        "channel": {"id": parent.channel, "name": "identity-oncall"},
        "message": {"type": "message", "ts": parent.ts, "text": parent.text},
        "response_url": "https://hooks.slack.com/actions/T0TEAM/1/abc",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "sentinel-actions",
                "text": button["text"],
                "value": change.pop("value", button.get("value")),
                "type": "button",
                "action_ts": "1764931260.000100",
            }
        ],
        **change,
    }


def signed(
    payload: dict[str, Any], timestamp: float, secret: str = SECRET
) -> tuple[bytes, dict[str, str]]:
    """The body and headers as Slack sends a click, signed as Slack signs it."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(timestamp))
    base = f"v0:{stamp}:".encode() + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as answer,
    ):
        text = await answer.text()
        return answer.status, json.loads(text) if text else None


async def test_a_click_on_acknowledge_acknowledges_and_the_parent_says_who(
    served: Served, slack_api: FakeSlack
) -> None:
    [parent] = slack_api.messages
    body, headers = signed(click(parent, ACKNOWLEDGE), served.now)
    status, _ = await post(served.url, body, headers)
    assert status == 200
    [ack] = served.actions()
    assert (ack.verb, ack.by, ack.via, ack.at) == (Verb.ACKNOWLEDGE, "alice", "slack", DUE + MIN)
    await eventually(lambda: parent.updates == 1)
    assert "✋ Acknowledged by alice (Slack) at 2026-11-25 10:11:00 UTC" in text_of(parent)
    assert ACKNOWLEDGE not in buttons(parent)


async def test_a_snooze_click_snoozes_for_its_length_from_now(
    served: Served, slack_api: FakeSlack
) -> None:
    [parent] = slack_api.messages
    body, headers = signed(click(parent, "sentinel-snooze-4h"), served.now)
    assert (await post(served.url, body, headers))[0] == 200
    [snooze] = served.actions()
    assert (snooze.verb, snooze.until) == (Verb.SNOOZE, DUE + MIN + 4 * 60 * MIN)
    await eventually(lambda: parent.updates == 1)
    assert "💤 Snoozed by alice (Slack) until 2026-11-25 14:11:00 UTC" in text_of(parent)


async def test_a_bad_signature_or_a_stale_timestamp_gets_401_and_changes_nothing(
    served: Served, slack_api: FakeSlack
) -> None:
    [parent] = slack_api.messages
    payload = click(parent, ACKNOWLEDGE)
    wrong_secret = signed(payload, served.now, secret="not-the-signing-secret")
    stale = signed(payload, served.now - 5 * MIN - 1)
    ahead = signed(payload, served.now + 5 * MIN + 1)
    body, headers = signed(payload, served.now)
    tampered = body.replace(b"alice", b"mallory")
    unsigned = {"Content-Type": headers["Content-Type"]}
    no_number = {**headers, "X-Slack-Request-Timestamp": "soon"}
    for request in (wrong_secret, stale, ahead, (tampered, headers), (body, unsigned)):
        status, answer = await post(served.url, *request)
        assert status == 401
        assert answer["status"] == 401
    assert (await post(served.url, body, no_number))[0] == 401
    await settle(0.3)
    assert served.actions() == () and served.taken == []
    assert parent.updates == 0 and len(slack_api.messages) == 1


async def test_a_replayed_click_is_refused_and_acts_once(
    served: Served, slack_api: FakeSlack
) -> None:
    [parent] = slack_api.messages
    body, headers = signed(click(parent, ACKNOWLEDGE), served.now)
    assert (await post(served.url, body, headers))[0] == 200
    served.now += 30  # within the 5 minutes the timestamp is good for
    status, answer = await post(served.url, body, headers)
    assert status == 401 and "received already" in answer["error"]
    assert len(served.actions()) == 1 and len(served.taken) == 1


async def test_a_forged_rollout_key_is_refused_and_nothing_is_executed(
    served: Served, slack_api: FakeSlack
) -> None:
    [parent] = slack_api.messages
    forged = json.dumps({"expectation": EXPECTATION, "rollout": "r1'; DROP TABLE rollouts"})
    body, headers = signed(click(parent, ACKNOWLEDGE, value=forged), served.now)
    status, answer = await post(served.url, body, headers)
    assert status == 404
    assert "no replica holds rollout" in answer["error"]
    for value in ("not json", json.dumps({"rollout": "r1"}), json.dumps(["r1"])):
        body, headers = signed(click(parent, ACKNOWLEDGE, value=value), served.now + 1)
        status, answer = await post(served.url, body, headers)
        assert status == 400 and "Traceback" not in json.dumps(answer)
    body, headers = signed({"type": "block_actions"}, served.now + 2)
    assert (await post(served.url, body, headers))[0] == 400
    await settle(0.3)
    assert served.actions() == ()
    assert parent.updates == 0


async def test_a_click_on_a_link_button_needs_nothing(served: Served, slack_api: FakeSlack) -> None:
    [parent] = slack_api.messages
    body, headers = signed(click(parent, "sentinel-dashboard"), served.now)
    assert (await post(served.url, body, headers))[0] == 200
    assert served.actions() == ()


async def test_basic_auth_guards_the_board_but_not_slacks_route(served: Served) -> None:
    """Slack cannot send the board's basic auth: its route is guarded by its signature."""
    base = served.url.removesuffix("/slack/actions")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/api/v1/rollouts") as answer:
            assert answer.status == 401
        async with session.post(served.url, data=b"payload=%7B%7D") as answer:
            assert answer.status == 401
            assert "WWW-Authenticate" not in answer.headers


async def test_a_click_on_a_replica_that_does_not_hold_the_rollout_reaches_its_owner(
    slack_api: FakeSlack, tmp_path: Path
) -> None:
    """Slack posts to whichever replica its load balancer picks: that one forwards the action
    to its peers (with the peer token), and the owner takes it and updates its message."""
    owner_port, other_port = free_port(), free_port()
    settings = interactive(slack_api.base_url)
    owner = Served(settings, tmp_path / "a.db", owner_port, (f"127.0.0.1:{other_port}",))
    other = Served(settings, tmp_path / "b.db", other_port, (f"127.0.0.1:{owner_port}",))
    await owner.http.start()
    await other.http.start()
    try:
        async with sending(owner.alerter), sending(other.alerter):
            owner.at(T0, "SchemaV2_Ready")
            owner.at(DUE + 5)
            owner.at(DUE + 6)
            await eventually(lambda: len(slack_api.messages) == 1)
            [parent] = slack_api.messages
            owner.now = other.now = DUE + MIN
            body, headers = signed(click(parent, ACKNOWLEDGE), other.now)
            status, _ = await post(other.url, body, headers)
            assert status == 200
            assert [action.by for action in owner.actions()] == ["alice"]
            assert other.taken == []
            await eventually(lambda: parent.updates == 1)
        assert "Acknowledged by alice (Slack)" in text_of(parent)
    finally:
        await other.http.stop()
        await owner.http.stop()
        owner.store.close()
        other.store.close()


async def test_an_action_slower_than_slack_waits_for_is_answered_200_and_taken_after(
    served: Served, slack_api: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slack_actions, "ANSWER_WITHIN", 0.2)
    release = asyncio.Event()
    take = served.take

    async def slow(expectation: str, key: str, action: Action) -> Outcome:
        await release.wait()  # the owner's batch is busy
        return await take(expectation, key, action)

    served.replica.actor = slow
    [parent] = slack_api.messages
    body, headers = signed(click(parent, ACKNOWLEDGE), served.now)
    status, _ = await post(served.url, body, headers)
    assert status == 200  # answered while the action still waits for its batch
    assert served.actions() == ()
    release.set()
    await eventually(lambda: len(served.actions()) == 1)
    await eventually(lambda: parent.updates == 1)


def test_sentinel_run_takes_slacks_clicks_only_with_a_signing_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SLACK_TOKEN", "xoxb-good")
    monkeypatch.setenv("TEST_SLACK_SIGNING_SECRET", SECRET)
    for secret, mounted in (
        ("", False),
        ("    signing_secret_env: TEST_SLACK_SIGNING_SECRET\n", True),
    ):
        config = tmp_path / "sentinel.yaml"
        config.write_text(
            f"expectations: {SHIPPED}\n"
            f"schemas: {SHIPPED / 'schemas'}\n"
            "kafka: {topics: [rollout.events]}\n"
            "alerting:\n"
            "  slack:\n"
            "    token_env: TEST_SLACK_TOKEN\n"
            "    default_channel: '#rollouts'\n" + secret
        )
        watcher = build_watcher(load_config(config))
        routes = {
            (route.method, route.resource.canonical)
            for route in watcher.parts.http.app.router.routes()
            if route.resource is not None
        }
        assert (("POST", "/slack/actions") in routes) is mounted


def test_the_demo_gives_slack_its_signing_secret_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-demo")
    monkeypatch.setenv("SLACK_CHANNEL", "#rollouts-demo")
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    assert "signing_secret_env" not in slack_section()
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    slack = yaml.safe_load(slack_section())["alerting"]["slack"]
    assert slack["signing_secret_env"] == "SLACK_SIGNING_SECRET"


async def test_a_click_on_a_closed_rollout_is_refused_with_409_and_changes_nothing(
    served: Served, slack_api: FakeSlack
) -> None:
    [parent] = slack_api.messages
    body, headers = signed(click(parent, "sentinel-snooze-1h"), served.now)  # clicked before ...
    abandon = Action(Verb.ABANDON, "carol", served.now, "board")
    await served.take(EXPECTATION, "r1", abandon)  # ... the board called it off
    status, answer = await post(served.url, body, headers)
    assert status == 409 and "closed" in answer["error"]
    assert [action.verb for action in served.actions()] == [Verb.ABANDON]
