"""The Slack bot sink (`slack:`): one parent message per rollout in its owner's channel, kept
current with chat.update, and later findings in its thread; event-level findings as the digest
(`slack_digest.py`). The plan is pure; the transport does the I/O through slack-sdk."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from sentinel.alerting.delivery import DeliveryError, Rejected, RetryLater, SinkBroken, Transient
from sentinel.alerting.grouper import Context, EventGroup, Plan, RolloutGroup, remember
from sentinel.alerting.sinks.base import Sink, check_http_url
from sentinel.alerting.sinks.httpkit import CONNECTION_ERRORS, USER_AGENT, describe, retry_after
from sentinel.alerting.sinks.slack_acted import on_action, render_parent
from sentinel.alerting.sinks.slack_blocks import (
    SlackMessage,
    as_test,
    history,
    render_burst,
    render_reply,
)
from sentinel.alerting.sinks.slack_buttons import with_acts
from sentinel.alerting.sinks.slack_digest import for_people
from sentinel.alerting.sinks.slack_reminders import (
    in_thread,
    to_escalation_channel,
    with_thread_link,
)
from sentinel.configkit import SECRET, Section
from sentinel.core.engine.findings import Finding
from sentinel.core.ports.outbox import Item, Outbox, Thread, item_key

# Slack errors that no retry can fix for any message: the token or the app is the problem.
SLACK_BROKEN = {
    "invalid_auth": "the bot token is not valid: check slack.token_env",
    "not_authed": "no bot token was sent: check slack.token_env",
    "account_inactive": "the bot's account is deactivated",
    "token_revoked": "the bot token was revoked: issue a new one",
    "token_expired": "the bot token expired: issue a new one",
    "no_permission": "the token lacks a permission",
    "missing_scope": "the bot needs the chat:write scope",
    "not_allowed_token_type": "use a bot token (xoxb-...)",
    "team_access_not_granted": "the token has no access to this workspace",
    "ekm_access_denied": "the workspace's key management denies access",
    "org_login_required": "the workspace requires an org login",
}
# Slack errors about one call that a retry may fix.
SLACK_TRANSIENT = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
SLACK_HINTS = {
    "channel_not_found": "check the channel name in slack.channels / default_channel",
    "not_in_channel": "invite the bot to the channel (/invite @bot)",
    "is_archived": "the channel is archived",
}


@dataclass(frozen=True, slots=True)
class SlackSettings:
    """A Slack bot: threads per rollout, the parent message kept current with chat.update."""

    token: str = field(metadata=SECRET)
    default_channel: str
    channels: dict[str, str] = field(default_factory=dict)  # owner -> channel
    base_url: str = "https://slack.com/api/"
    timeout: float = 10.0
    # The Slack app's signing secret (`signing_secret_env`): the parents carry act buttons,
    # and `POST /slack/actions` takes their clicks (contract section 14). None: links only.
    signing_secret: str | None = field(default=None, metadata=SECRET)
    name: str = field(default="slack", metadata={"given": True})


def parse(section: Section, name: str) -> SlackSettings:
    settings = section.read(SlackSettings, name=name)
    if not settings.base_url.endswith("/"):
        settings = replace(settings, base_url=settings.base_url + "/")
    check_http_url(section, "base_url", settings.base_url)
    return settings


def channel(settings: SlackSettings, finding: Finding) -> str:
    """The owner's channel, else the default one: a lane each."""
    return settings.channels.get(finding.owner or "", settings.default_channel)


def plan(
    rollouts: Sequence[RolloutGroup],
    events: Sequence[EventGroup],
    threads: Mapping[str, Thread],
    ctx: Context,
) -> Plan:
    """Replies and parent updates for alerted rollouts; a parent per new rollout, or one message
    listing them all when more than `max_messages` start in one window and one channel. Each
    rollout's deliveries keep to the lane of its thread's channel; `events` are left to the
    digest."""
    result = Plan()
    new: dict[str, list[RolloutGroup]] = {}
    for rollout in rollouts:
        thread = threads.get(rollout.key)
        if thread is None:
            if rollout.opens:
                new.setdefault(rollout.destination, []).append(rollout)
            continue
        reply = render_reply(rollout, ctx, named=thread.shared)
        since = rollout.held_at
        result.items.append(
            _item(
                rollout.findings,
                since,
                ctx,
                "reply",
                reply,
                lane=thread.delivery_lane,
                thread=rollout.key,
                channel=thread.channel,
            )
        )
        lines = history(rollout, ctx, thread.history)
        memo = thread.firing
        if not thread.shared:
            parent, memo = render_parent(rollout, ctx, lines, thread)
            result.items.append(
                _item(
                    rollout.findings,
                    since,
                    ctx,
                    "update",
                    parent,
                    lane=thread.delivery_lane,
                    thread=rollout.key,
                )
            )
        remembered = remember(rollout, thread, ctx)
        result.threads[rollout.key] = replace(remembered, history=lines, firing=memo)
    for channel, starting in new.items():
        if len(starting) <= ctx.settings.max_messages:
            for rollout in starting:
                lines = history(rollout, ctx)
                message, memo = render_parent(rollout, ctx, lines, None)
                result.items.append(
                    _item(
                        rollout.findings,
                        rollout.held_at,
                        ctx,
                        "parent",
                        message,
                        lane=channel,
                        channel=channel,
                        threads=[rollout.key],
                    )
                )
                thread = remember(rollout, None, ctx, channel)
                result.threads[rollout.key] = replace(thread, history=lines, firing=memo)
        else:
            findings = [finding for rollout in starting for finding in rollout.findings]
            message = render_burst(starting, ctx, threaded=True)
            keys = [rollout.key for rollout in starting]
            since = min(rollout.held_at for rollout in starting)
            result.items.append(
                _item(
                    findings,
                    since,
                    ctx,
                    "parent",
                    message,
                    lane=channel,
                    channel=channel,
                    threads=keys,
                )
            )
            for rollout in starting:
                thread = remember(rollout, None, ctx, channel)
                result.threads[rollout.key] = replace(
                    thread, shared=True, history=history(rollout, ctx)
                )
    return result


def _item(
    findings: Sequence[Finding],
    since: float,
    ctx: Context,
    purpose: str,
    message: SlackMessage,
    *,
    lane: str,
    **extra: Any,
) -> Item:
    return Item(
        key=item_key(findings, ctx.sink, purpose),
        sink=ctx.sink,
        payload={"purpose": purpose, **extra, **message.payload()},
        enqueued_at=since,
        next_at=ctx.now,
        lane=lane,
    )


class SlackTransport:
    """chat.postMessage, chat.update and chat.getPermalink through slack-sdk's AsyncWebClient."""

    refresh_interval: float | None = None

    def __init__(self, settings: SlackSettings) -> None:
        self.name = settings.name
        # No retry handlers: their sleeps would hold this worker inside the call; we schedule
        # retries in the outbox instead, which also survives a restart.
        self._client = AsyncWebClient(
            token=settings.token,
            base_url=settings.base_url,
            timeout=max(1, round(settings.timeout)),
            retry_handlers=[],
            user_agent_prefix=USER_AGENT,
        )

    async def deliver(self, item: Item, outbox: Outbox, now: float) -> None:
        payload = item.payload
        purpose = payload["purpose"]
        message = {"text": payload["text"], "blocks": payload["blocks"]}
        try:
            if purpose == "parent":
                await self._post_parent(payload, message, outbox)
            elif purpose == "escalate":
                await self._escalate(payload, message, outbox)
            elif purpose == "update":
                thread = outbox.thread(self.name, payload["thread"])
                if thread is None or thread.ts is None:
                    return  # its parent was never posted: there is nothing to update
                await self._client.chat_update(channel=thread.channel, ts=thread.ts, **message)
            else:
                thread = outbox.thread(self.name, payload["thread"]) if purpose == "reply" else None
                if thread is not None and thread.ts is not None:
                    await self._post(channel=thread.channel, thread_ts=thread.ts, **message)
                else:
                    await self._post(channel=payload["channel"], **message)
        except SlackApiError as error:
            raise _slack_error(error) from None
        except CONNECTION_ERRORS as error:
            raise Transient(describe(error)) from None

    async def refresh(self, outbox: Outbox, now: float) -> None:
        """Nothing to refresh: Slack messages stay."""

    async def aclose(self) -> None:
        """Nothing to close: the client opens a session per call."""

    async def _post_parent(
        self, payload: Mapping[str, Any], message: dict[str, Any], outbox: Outbox
    ) -> None:
        try:
            response = await self._post(channel=payload["channel"], **message)
        except SlackApiError as error:
            failure = _slack_error(error)
            if isinstance(failure, Rejected):
                # Replies to these rollouts go to the channel instead of a thread.
                with outbox.transaction():
                    for key in payload["threads"]:
                        known = outbox.thread(self.name, key)
                        if known is not None:
                            outbox.save_thread(self.name, key, replace(known, failed=True))
            raise failure from None
        # Before anything else: with the ts stored, no retry or restart posts the parent again.
        with outbox.transaction():
            for key in payload["threads"]:
                known = outbox.thread(self.name, key)
                if known is not None:
                    thread = replace(known, channel=response["channel"], ts=response["ts"])
                    outbox.save_thread(self.name, key, thread)

    async def _escalate(
        self, payload: Mapping[str, Any], message: dict[str, Any], outbox: Outbox
    ) -> None:
        """Post in the escalation channel, with a link to the rollout's thread once its parent
        is posted; a link Slack cannot give (the parent deleted) is left out, not the post."""
        thread = outbox.thread(self.name, payload["thread"])
        if thread is not None and thread.ts is not None:
            try:
                answer = await self._client.chat_getPermalink(
                    channel=thread.channel, message_ts=thread.ts
                )
                message = with_thread_link(message, answer["permalink"])
            except SlackApiError as error:
                failure = _slack_error(error)
                if not isinstance(failure, Rejected):
                    raise failure from None
        await self._post(channel=payload["channel"], **message)

    async def _post(self, **arguments: Any) -> Any:
        return await self._client.chat_postMessage(
            unfurl_links=False, unfurl_media=False, **arguments
        )


def _slack_error(error: SlackApiError) -> DeliveryError:
    response = error.response
    status = response.status_code
    data = response.data
    code = data.get("error") if isinstance(data, dict) else None
    if status == 429 or code == "ratelimited":
        return RetryLater("Slack rate limit (429)", retry_after(response.headers))
    if status >= 500 or code in SLACK_TRANSIENT:
        return Transient(f"Slack answered {code or f'HTTP {status}'}")
    if code in SLACK_BROKEN:
        return SinkBroken(f"{code}: {SLACK_BROKEN[code]}")
    if code is None and status in (401, 403, 404):
        return SinkBroken(f"HTTP {status} from {response.api_url}: check slack.base_url")
    hint = SLACK_HINTS.get(code or "", "")
    return Rejected(f"{code or f'HTTP {status}'}{': ' + hint if hint else ''}")


def mark_test(settings: SlackSettings, item: Item, now: float) -> Item:
    """The test alert (`sentinel alerts test`): the test's header and words, its links but no
    act buttons (its rollout is made up)."""
    payload = as_test(item.payload)
    return replace(item, payload={**payload, "blocks": with_acts(payload["blocks"], (), ())})


SINK = Sink(
    name="slack",
    settings=SlackSettings,
    parse=parse,
    plan=for_people(plan, bot=True),
    transport=SlackTransport,
    human=True,
    remind=in_thread,
    escalate=to_escalation_channel,
    mark_test=mark_test,
    destination=channel,
    on_action=on_action,
)
