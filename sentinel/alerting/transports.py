"""The I/O of each sink: one HTTP call per outbox item, its answer sorted into sent, retry
later, retry with back-off, rejected for good, or sink broken. No retry sleeps in here: the
delivery worker waits, so one slow sink never holds up another."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import replace
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from sentinel import __version__
from sentinel.alerting.config import (
    AlertingSettings,
    AlertmanagerSettings,
    SlackSettings,
    SlackWebhookSettings,
    WebhookSettings,
)
from sentinel.alerting.delivery import (
    DeliveryError,
    Rejected,
    RetryLater,
    SinkBroken,
    Transient,
    Transport,
)
from sentinel.alerting.sinks.alertmanager import API_PATH
from sentinel.alerting.sinks.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from sentinel.outbox import Item, Outbox
from sentinel.timefmt import format_rfc3339

USER_AGENT = f"rollout-sentinel/{__version__}"
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
CONNECTION_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


def build_transports(settings: AlertingSettings) -> list[Transport]:
    transports: list[Transport] = []
    if settings.slack is not None:
        transports.append(SlackTransport(settings.slack))
    if settings.slack_webhook is not None:
        transports.append(SlackWebhookTransport(settings.slack_webhook))
    transports.extend(WebhookTransport(hook) for hook in settings.webhooks)
    if settings.alertmanager is not None:
        transports.append(AlertmanagerTransport(settings.alertmanager))
    return transports


class SlackTransport:
    """chat.postMessage and chat.update through slack-sdk's AsyncWebClient."""

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
            raise Transient(_describe(error)) from None

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

    async def _post(self, **arguments: Any) -> Any:
        return await self._client.chat_postMessage(
            unfurl_links=False, unfurl_media=False, **arguments
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

    async def deliver(self, item: Item, outbox: Outbox, now: float) -> None:
        body = {**item.payload, "unfurl_links": False, "unfurl_media": False}
        try:
            response = await self._client.send_dict(body=body)
        except CONNECTION_ERRORS as error:
            raise Transient(_describe(error)) from None
        if response.status_code == 200 and response.body == "ok":
            return
        answer = (response.body or "").strip()[:100]
        if answer in WEBHOOK_BROKEN:
            raise SinkBroken(f"incoming webhook answered {answer}: check slack_webhook.url_env")
        raise _http_error(response.status_code, response.headers, answer)

    async def refresh(self, outbox: Outbox, now: float) -> None:
        """Nothing to refresh: Slack messages stay."""

    async def aclose(self) -> None:
        """Nothing to close: the client opens a session per call."""


class _HttpTransport:
    """A JSON POST over one aiohttp session, opened on first use inside the running loop."""

    refresh_interval: float | None = None

    def __init__(self, name: str, url: str, timeout: float) -> None:
        self.name = name
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, body: bytes, headers: Mapping[str, str]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": USER_AGENT}
            )
        try:
            async with self._session.post(
                self._url,
                data=body,
                headers={"Content-Type": "application/json", **headers},
                allow_redirects=False,
            ) as response:
                text = (await response.text(errors="replace")).strip()[:100]
                status, answer_headers = response.status, response.headers
        except CONNECTION_ERRORS as error:
            raise Transient(_describe(error)) from None
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            location = answer_headers.get("Location", "elsewhere")
            raise SinkBroken(f"HTTP {status}: the URL redirects to {location}; use that URL")
        raise _http_error(status, answer_headers, text)


class WebhookTransport(_HttpTransport):
    """A generic webhook: the finding's JSON, signed with HMAC-SHA256 when a secret is set."""

    def __init__(self, settings: WebhookSettings) -> None:
        super().__init__(settings.name, settings.url, settings.timeout)
        self._secret = settings.secret

    async def deliver(self, item: Item, outbox: Outbox, now: float) -> None:
        body = _dump(item.payload["body"])
        headers = {DELIVERY_HEADER: item.key}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        await self._post(body, headers)

    async def refresh(self, outbox: Outbox, now: float) -> None:
        """Nothing to refresh: a webhook gets each finding once."""


class AlertmanagerTransport(_HttpTransport):
    """POST /api/v2/alerts; firing alerts are re-sent every `resend_interval`."""

    def __init__(self, settings: AlertmanagerSettings) -> None:
        super().__init__(settings.name, settings.url + API_PATH, settings.timeout)
        self.refresh_interval = settings.resend_interval
        self._resend = settings.resend_interval

    async def deliver(self, item: Item, outbox: Outbox, now: float) -> None:
        await self._post(_dump(self._stamped(item.payload["alerts"], now)), {})

    async def refresh(self, outbox: Outbox, now: float) -> None:
        alerts = [alert for thread in outbox.firing(self.name) for alert in thread.firing]
        if alerts:
            await self._post(_dump(self._stamped(alerts, now)), {})

    def _stamped(self, alerts: list[Mapping[str, Any]], now: float) -> list[dict[str, Any]]:
        # As Prometheus does: firing until a few resends are missed, then Alertmanager resolves.
        ends = format_rfc3339(now + 4 * self._resend)
        return [{**alert} if "endsAt" in alert else {**alert, "endsAt": ends} for alert in alerts]


def _slack_error(error: SlackApiError) -> DeliveryError:
    response = error.response
    status = response.status_code
    data = response.data
    code = data.get("error") if isinstance(data, dict) else None
    if status == 429 or code == "ratelimited":
        return RetryLater("Slack rate limit (429)", _retry_after(response.headers))
    if status >= 500 or code in SLACK_TRANSIENT:
        return Transient(f"Slack answered {code or f'HTTP {status}'}")
    if code in SLACK_BROKEN:
        return SinkBroken(f"{code}: {SLACK_BROKEN[code]}")
    if code is None and status in (401, 403, 404):
        return SinkBroken(f"HTTP {status} from {response.api_url}: check slack.base_url")
    hint = SLACK_HINTS.get(code or "", "")
    return Rejected(f"{code or f'HTTP {status}'}{': ' + hint if hint else ''}")


def _http_error(status: int, headers: Mapping[str, Any], answer: str) -> DeliveryError:
    said = f"HTTP {status}" + (f" {answer}" if answer else "")
    if status == 429:
        return RetryLater(said, _retry_after(headers))
    if status == 408 or status >= 500:
        return Transient(said)
    if status in (401, 403, 404, 410):
        return SinkBroken(f"{said}: check the URL and its credentials")
    return Rejected(said)


def _retry_after(headers: Mapping[str, Any]) -> float:
    """Seconds from a Retry-After header (seconds or an HTTP date); 1 when absent or unreadable."""
    value: Any = None
    for name, candidate in headers.items():
        if name.lower() == "retry-after":
            value = candidate
            break
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None:
        return 1.0
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return 1.0
    return max(moment.timestamp() - time.time(), 0.0)


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"cannot reach the sink: {text}"[:200]


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
