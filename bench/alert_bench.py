"""Alert latency behind noise (issue 22): how long a stall's Slack alert takes behind a flood of
1,000 distinct unknown event types, in the noise's channel and in another, through the real
Alerter, SQLite outbox, sink worker and slack-sdk, against a fake Slack Web API over HTTP that
answers 429 (Retry-After: 1) to a second message within a second in one channel, as Slack does.

Runs against any version of the sentinel with this Alerter interface: on the code before issue
22 (one message per unknown type, one queue per sink) the stall waits about a second per type,
so `python -m bench.alert_bench 1500` measures that too (the default gives up after 60 s).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sentinel.alerting.alerter import Alerter
from sentinel.alerting.settings import AlertingSettings
from sentinel.alerting.sinks.slack import SlackSettings
from sentinel.core.engine.findings import Finding, Kind
from sentinel.local_port import free_port
from sentinel.store.sqlite_outbox import SqliteOutbox

FLOOD = 1000
BATCH = 100  # findings per accept, as the watcher's batches bring them
WINDOW = 2.0  # grouping.window: short, so that the figure is cheap
NOISE_CHANNEL = "#rollouts"
OTHER_CHANNEL = "#identity-oncall"
OWNER = "team-identity"


@dataclass
class RateLimitedSlack:
    """chat.postMessage only: one message per second per channel, else 429 Retry-After: 1."""

    posts: list[tuple[float, str, str]] = field(default_factory=list)  # (at, channel, text)
    limited: int = 0
    _last: dict[str, float] = field(default_factory=dict)
    _ts: int = 1_700_000_000

    async def handle(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        channel, now = body["channel"], time.monotonic()
        last = self._last.get(channel)
        if last is not None and now - last < 1.0:
            self.limited += 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
            )
        self._last[channel] = now
        self._ts += 1
        self.posts.append((now, channel, body["text"]))
        return web.json_response({"ok": True, "channel": channel, "ts": f"{self._ts}.000100"})


async def measure(stall_channel: str, give_up: float) -> tuple[float | None, int, int]:
    """(seconds from the stall's finding to its message, or None if it took longer than
    `give_up`; messages the noise made in its channel by then; 429 answers)."""
    slack = RateLimitedSlack()
    app = web.Application()
    app.router.add_post("/api/chat.postMessage", slack.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    slack = SlackSettings(
        token="xoxb-bench",
        base_url=f"http://127.0.0.1:{port}/api/",
        default_channel=NOISE_CHANNEL,
        channels={OWNER: OTHER_CHANNEL},
    )
    settings = AlertingSettings(sinks=(slack,), window=WINDOW)
    alerter = Alerter(settings, SqliteOutbox(":memory:"))
    stop = asyncio.Event()
    sender = asyncio.create_task(alerter.run_sender(stop))
    now = time.time()
    flood = [
        Finding(Kind.UNREGISTERED_EVENT, now, event_type=f"OrderPlaced.{uuid.uuid4()}")
        for _ in range(FLOOD)
    ]
    for start in range(0, FLOOD, BATCH):
        alerter.accept(flood[start : start + BATCH], lambda expectation, rollout: None, now)
    await asyncio.sleep(WINDOW / 4)  # the stall comes a little later, within the noise's window
    owner = None if stall_channel == NOISE_CHANNEL else OWNER
    stall = Finding(Kind.STALL, time.time(), "user-service-v2", "42", "Running", owner=owner)
    raised = time.monotonic()
    alerter.accept([stall], lambda expectation, rollout: None, time.time())
    latency = None
    while time.monotonic() - raised < give_up:
        posted = [at for at, channel, text in slack.posts if "Stalled" in text]
        if posted:
            latency = posted[0] - raised
            break
        await asyncio.sleep(0.02)
    noise = sum(1 for _, channel, text in slack.posts if "Stalled" not in text)
    stop.set()
    await sender
    await runner.cleanup()
    return latency, noise, slack.limited


def main(give_up: float = 60.0) -> dict[str, float]:
    logging.getLogger("sentinel.alerting").setLevel(logging.ERROR)  # the 429s are the point
    results: dict[str, float] = {}
    for label, channel in (("same channel", NOISE_CHANNEL), ("another channel", OTHER_CHANNEL)):
        latency, noise, limited = asyncio.run(measure(channel, give_up))
        took = f"> {give_up:g}s (gave up)" if latency is None else f"{latency:.1f}s"
        beyond = "" if latency is None else f", {latency - WINDOW:.1f}s beyond its window"
        print(
            f"alerts: a stall behind {FLOOD:,} distinct unknown event types, {label} as the"
            f" noise: in Slack after {took} (grouping window {WINDOW:g}s{beyond}); the noise"
            f" made {noise} message(s) in its channel by then, Slack answered 429 {limited}"
            " times (one message per second per channel)",
            flush=True,
        )
        key = "same" if channel == NOISE_CHANNEL else "other"
        results[f"alert_latency_{key}_channel_s"] = give_up if latency is None else latency
    return results


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
