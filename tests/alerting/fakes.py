"""Fake HTTP servers for the alerting tests, over real HTTP on 127.0.0.1: a Slack Web API
(chat.postMessage, chat.update, chat.getPermalink) that answers and checks limits like Slack,
and one receiver for incoming webhooks, generic webhooks and Alertmanager. Each can be scripted
to fail."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sentinel.local_port import free_port


@dataclass
class Answer:
    """A scripted answer: served instead of the normal one, in order."""

    status: int
    body: Any = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    """One request as the fake saw it."""

    at: float
    path: str
    headers: dict[str, str]
    raw: bytes
    status: int = 0
    query: dict[str, str] = field(default_factory=dict)

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


def rate_limited(seconds: int) -> Answer:
    return Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(seconds)})


def server_error() -> Answer:
    return Answer(500, "Internal Server Error")


class FakeServer:
    """An aiohttp server on a free port that can be scripted, stopped and started again."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)
        self.requests: list[Request] = []
        self.script: deque[Answer] = deque()
        self.unavailable_until = 0.0
        self.port = free_port()
        self._runner: web.AppRunner | None = None
        self._restart: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._restart is not None:
            self._restart.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def outage(self, seconds: float) -> None:
        """Refuse connections for `seconds`, then listen again on the same port."""
        assert self._runner is not None
        await self._runner.cleanup()
        self._runner = None

        async def come_back() -> None:
            await asyncio.sleep(seconds)
            await self.start()

        self._restart = asyncio.create_task(come_back())

    def unavailable(self, seconds: float) -> None:
        """Answer 503 to everything for `seconds`."""
        self.unavailable_until = time.monotonic() + seconds

    def fail_next(self, *answers: Answer) -> None:
        self.script.extend(answers)

    def served(self, path: str, status: int = 200) -> list[Request]:
        return [r for r in self.requests if r.path == path and r.status == status]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        record = Request(
            time.monotonic(), request.path, dict(request.headers), raw, query=dict(request.query)
        )
        self.requests.append(record)
        response: web.StreamResponse
        if time.monotonic() < self.unavailable_until:
            response = _respond(Answer(503, "Service Unavailable"))
        elif self.script:
            response = _respond(self.script.popleft())
        else:
            response = await self.answer(request.path, record)
        record.status = response.status
        return response

    async def answer(self, path: str, request: Request) -> web.StreamResponse:
        raise NotImplementedError


@dataclass
class SlackMessage:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    updates: int = 0


class FakeSlack(FakeServer):
    """chat.postMessage and chat.update under /api/, for one bot token; optionally with Slack's
    limit of one message per second per channel, and failures scripted per channel."""

    def __init__(self, token: str = "xoxb-good") -> None:
        super().__init__()
        self.token = token
        self.channels = {"#rollouts": "C0ROLLOUTS", "#identity-oncall": "C0IDENTITY"}
        self.messages: list[SlackMessage] = []
        self.per_channel: dict[str, deque[Answer]] = {}
        self.rate_limited = False
        self._last_post: dict[str, float] = {}
        self._clock = 1_700_000_000

    def limit_rate(self) -> None:
        """From now on, as Slack: a second message within a second in one channel is answered
        429 with Retry-After: 1."""
        self.rate_limited = True

    def fail_next_in(self, channel: str, *answers: Answer) -> None:
        """Serve `answers` to the next posts in `channel` (as the call names it)."""
        self.per_channel.setdefault(channel, deque()).extend(answers)

    def in_channel(self, channel: str) -> list[SlackMessage]:
        return [message for message in self.messages if message.channel == channel]

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/"

    def parents(self) -> list[SlackMessage]:
        return [message for message in self.messages if message.thread_ts is None]

    def replies(self, parent: SlackMessage) -> list[SlackMessage]:
        return [message for message in self.messages if message.thread_ts == parent.ts]

    async def answer(self, path: str, request: Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _slack(error="invalid_auth")
        if path == "/api/chat.getPermalink":
            return self._permalink(request.query)
        body = request.json
        problem = _check_limits(body)
        if problem:
            return _slack(error=problem)
        if path == "/api/chat.postMessage":
            scripted = self.per_channel.get(body["channel"])
            if scripted:
                return _respond(scripted.popleft())
            channel = self.channels.get(body["channel"], body["channel"])
            if channel not in self.channels.values():
                return _slack(error="channel_not_found")
            if self.rate_limited:
                last = self._last_post.get(channel)
                if last is not None and request.at - last < 1.0:
                    return _respond(rate_limited(1))
                self._last_post[channel] = request.at
            self._clock += 1
            ts = f"{self._clock}.000100"
            self.messages.append(
                SlackMessage(
                    channel, ts, body["text"], body.get("blocks", []), body.get("thread_ts")
                )
            )
            return _slack(channel=channel, ts=ts)
        if path == "/api/chat.update":
            for message in self.messages:
                if message.channel == body["channel"] and message.ts == body["ts"]:
                    message.text, message.blocks = body["text"], body.get("blocks", [])
                    message.updates += 1
                    return _slack(channel=message.channel, ts=message.ts)
            return _slack(error="message_not_found")
        return _slack(error="unknown_method")

    def _permalink(self, query: dict[str, str]) -> web.Response:
        """chat.getPermalink (a GET, as slack-sdk sends it): a posted message's link."""
        for message in self.messages:
            if message.channel == query.get("channel") and message.ts == query.get("message_ts"):
                return _slack(channel=message.channel, permalink=self.permalink(message))
        return _slack(error="message_not_found")

    def permalink(self, message: SlackMessage) -> str:
        ts = message.ts.replace(".", "")
        return f"https://fake.slack.example/archives/{message.channel}/p{ts}"


class FakeReceiver(FakeServer):
    """Accepts an incoming webhook (`/slack-hook`, answers `ok`), a generic webhook (`/hook`,
    HMAC checked when `secret` is set), and Alertmanager (`/api/v2/alerts`)."""

    def __init__(self, secret: str | None = None) -> None:
        super().__init__()
        self.secret = secret

    async def answer(self, path: str, request: Request) -> web.StreamResponse:
        if path == "/slack-hook":
            body = request.json
            if not body.get("text"):
                return web.Response(status=400, text="no_text")
            return web.Response(text="ok")
        if path == "/hook":
            if self.secret is not None:
                expected = (
                    "sha256="
                    + hmac.new(self.secret.encode(), request.raw, hashlib.sha256).hexdigest()
                )
                given = request.headers.get("X-Sentinel-Signature", "")
                if not hmac.compare_digest(expected, given):
                    return web.Response(status=401, text="bad signature")
            return web.Response(status=204)
        if path == "/api/v2/alerts":
            alerts = request.json
            if not isinstance(alerts, list) or not all("labels" in alert for alert in alerts):
                return web.Response(status=400, text="bad alerts")
            return web.Response(status=200)
        return web.Response(status=404, text="no_service")


def _respond(answer: Answer) -> web.Response:
    if isinstance(answer.body, dict):
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)
    return web.Response(status=answer.status, text=answer.body, headers=answer.headers)


def _slack(error: str | None = None, **fields: Any) -> web.Response:
    if error is not None:
        return web.json_response({"ok": False, "error": error})
    return web.json_response({"ok": True, **fields})


def _check_limits(body: dict[str, Any]) -> str | None:
    """Slack's own refusals for a message over its limits."""
    if not body.get("text"):
        return "no_text"
    blocks = body.get("blocks", [])
    if len(blocks) > 50:
        return "invalid_blocks"
    for block in blocks:
        if block["type"] == "header" and len(block["text"]["text"]) > 150:
            return "invalid_blocks"
        if block["type"] == "section":
            if "text" in block and len(block["text"]["text"]) > 3000:
                return "invalid_blocks"
            fields = block.get("fields", [])
            if len(fields) > 10 or any(len(item["text"]) > 2000 for item in fields):
                return "invalid_blocks"
        if block["type"] == "actions" and not _buttons_valid(block.get("elements", [])):
            return "invalid_blocks"
    return None


def _buttons_valid(buttons: list[dict[str, Any]]) -> bool:
    """Slack's rules for the buttons of an `actions` block: at most 25, each with a unique
    `action_id` (a link button too) of at most 255 characters, a plain-text label of at most
    75, a `url` of at most 3,000 and a `value` of at most 2,000."""
    actions = [button.get("action_id") for button in buttons]
    return (
        0 < len(buttons) <= 25
        and all(isinstance(action, str) and 0 < len(action) <= 255 for action in actions)
        and len(set(actions)) == len(actions)
        and all(
            button.get("type") == "button"
            and button["text"]["type"] == "plain_text"
            and len(button["text"]["text"]) <= 75
            and len(button.get("url", "")) <= 3000
            and len(button.get("value", "")) <= 2000
            for button in buttons
        )
    )
