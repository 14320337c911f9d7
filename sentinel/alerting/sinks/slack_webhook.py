"""The Slack incoming webhook sink (`slack_webhook:`): one channel, no threads and no updates, so
each message stands alone: the whole rollout as it is now, or one list when many rollouts change
in one window; event-level findings as the digest (`slack_digest.py`). The plan is pure; the
transport does the I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from slack_sdk.webhook.async_client import AsyncWebhookClient

from sentinel.alerting.delivery import SinkBroken, Transient
from sentinel.alerting.grouper import Context, EventGroup, Plan, RolloutGroup, remember
from sentinel.alerting.sinks.base import Sink, check_http_url
from sentinel.alerting.sinks.httpkit import CONNECTION_ERRORS, USER_AGENT, describe, http_error
from sentinel.alerting.sinks.slack_blocks import (
    SlackMessage,
    as_test,
    history,
    render_burst,
    render_rollout,
)
from sentinel.alerting.sinks.slack_digest import for_people
from sentinel.alerting.sinks.slack_reminders import as_message
from sentinel.configkit import SECRET, Section
from sentinel.core.engine.findings import Finding
from sentinel.core.ports.outbox import Item, Outbox, Thread, item_key

# An incoming webhook is tied to one channel, so a channel problem breaks the whole sink.
WEBHOOK_BROKEN = {
    "invalid_token",
    "no_service",
    "no_service_id",
    "no_team",
    "team_disabled",
    "channel_not_found",
    "channel_is_archived",
    "action_prohibited",
    "posting_to_general_channel_denied",
}


@dataclass(frozen=True, slots=True)
class SlackWebhookSettings:
    """A Slack incoming webhook: one channel, no threads, no updates."""

    url: str = field(metadata=SECRET)
    timeout: float = 10.0
    name: str = field(default="slack_webhook", metadata={"given": True})


def parse(section: Section, name: str) -> SlackWebhookSettings:
    settings = section.read(SlackWebhookSettings, name=name)
    check_http_url(section, "url", settings.url)
    return settings


def plan(
    rollouts: Sequence[RolloutGroup],
    events: Sequence[EventGroup],
    threads: Mapping[str, Thread],
    ctx: Context,
) -> Plan:
    """A message per rollout that alerts or was alerted before; one list beyond `max_messages`.
    One channel, so one lane; `events` are left to the digest."""
    result = Plan()
    sending: list[tuple[RolloutGroup, tuple[str, ...]]] = []
    for rollout in rollouts:
        known = threads.get(rollout.key)
        if known is None and not rollout.opens:
            continue
        lines = history(rollout, ctx, known.history if known else ())
        sending.append((rollout, lines))
        result.threads[rollout.key] = replace(remember(rollout, known, ctx), history=lines)
    if len(sending) > ctx.settings.max_messages:
        listed = [rollout for rollout, _ in sending]
        findings = [finding for rollout in listed for finding in rollout.findings]
        since = min(rollout.held_at for rollout in listed)
        message = render_burst(listed, ctx, threaded=False)
        result.items.append(_item(findings, since, ctx, message))
    else:
        for rollout, lines in sending:
            message = render_rollout(rollout, ctx, lines)
            result.items.append(_item(rollout.findings, rollout.held_at, ctx, message))
    return result


def _item(findings: Sequence[Finding], since: float, ctx: Context, message: SlackMessage) -> Item:
    return Item(
        key=item_key(findings, ctx.sink, "message"),
        sink=ctx.sink,
        payload=message.payload(),
        enqueued_at=since,
        next_at=ctx.now,
    )


class SlackWebhookTransport:
    """An incoming webhook through slack-sdk's AsyncWebhookClient (it answers, it never raises)."""

    refresh_interval: float | None = None

    def __init__(self, settings: SlackWebhookSettings) -> None:
        self.name = settings.name
        self._client = AsyncWebhookClient(
            url=settings.url,
            timeout=max(1, round(settings.timeout)),
            retry_handlers=[],
            user_agent_prefix=USER_AGENT,
        )
        # What Slack answered the last message that went out (`sentinel alerts test` says it).
        self.answer: str | None = None

    async def deliver(self, item: Item, outbox: Outbox, now: float) -> None:
        body = {**item.payload, "unfurl_links": False, "unfurl_media": False}
        try:
            response = await self._client.send_dict(body=body)
        except CONNECTION_ERRORS as error:
            raise Transient(describe(error)) from None
        if response.status_code == 200 and response.body == "ok":
            self.answer = "HTTP 200 ok"
            return
        answer = (response.body or "").strip()[:100]
        if answer in WEBHOOK_BROKEN:
            raise SinkBroken(f"incoming webhook answered {answer}: check slack_webhook.url_env")
        raise http_error(response.status_code, response.headers, answer)

    async def refresh(self, outbox: Outbox, now: float) -> None:
        """Nothing to refresh: Slack messages stay."""

    async def aclose(self) -> None:
        """Nothing to close: the client opens a session per call."""


def mark_test(settings: SlackWebhookSettings, item: Item, now: float) -> Item:
    """The test alert (`sentinel alerts test`): the test's header and words."""
    return replace(item, payload=as_test(item.payload))


SINK = Sink(
    name="slack_webhook",
    settings=SlackWebhookSettings,
    parse=parse,
    plan=for_people(plan, bot=False),
    transport=SlackWebhookTransport,
    human=True,
    remind=as_message,
    mark_test=mark_test,
)
