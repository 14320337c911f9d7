"""`POST /slack/actions`: the Slack app's interactivity request URL (contract section 14). Slack
posts each click on the bot's buttons here; a click that verifies becomes an on-call action on
the rollout its button names (`alerting/sinks/slack_buttons.py`), taken by the rollout's owner
replica (`Cluster.act`).

Checked before anything is read, in this order, each refusal changing nothing:

- the signature: slack-sdk's `SignatureVerifier` with the app's signing secret (`v0=` + the
  HMAC-SHA256 of `v0:{X-Slack-Request-Timestamp}:{body}`), and the timestamp within 5 minutes
  of this sentinel's clock: 401 otherwise;
- a replay: a request whose timestamp and signature were seen already (kept for the 5-minute
  window and as long again, after which the timestamp check refuses it anyway) is a copy of a
  click that was taken: 401, and no second action;
- the payload: the `payload` form field, Slack's `block_actions` JSON, and an act button's value
  naming a rollout: 400 when it is not (a click on a link button needs nothing: 200);
- the rollout: one no replica holds (a forged or forgotten key) is refused by `Cluster.act`:
  404, nothing executed; a closed one 409.

Slack wants an answer within 3 seconds: the action is taken at once (the watcher's loop wakes for
it), and when it is not kept within ANSWER_WITHIN the answer is 200 and it goes on after; the
parent message says who acted once it is kept (`slack_acted.py`). Basic auth does not apply
here (Slack cannot send it): the signature is the authentication.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import orjson
from aiohttp import web
from slack_sdk.signature import Clock, SignatureVerifier

from sentinel.alerting.sinks.slack_buttons import BadClick, Click, read_click
from sentinel.config import HttpSettings
from sentinel.core.engine.actions import Action, BadAction, Outcome, UnknownRollout, make_action
from sentinel.status.api_json import error_body
from sentinel.status.operators import PEER_TOKEN_HEADER, peer_token
from sentinel.web.cluster import Cluster

log = logging.getLogger("sentinel.slack")

PATH = "/slack/actions"
TIMESTAMP = "X-Slack-Request-Timestamp"
SIGNATURE = "X-Slack-Signature"
# slack-sdk refuses a timestamp further than this from the clock; a replay is remembered twice
# as long, so that no clock skew lets one through between the two checks.
WINDOW_S = 300.0
# Slack shows the click as failed without an answer within 3 s: answer by then.
ANSWER_WITHIN = 2.0


class _Clock(Clock):
    """slack-sdk's clock, as this sentinel reads the wall clock (tests drive it)."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


class SlackActions:
    """The handler of `POST /slack/actions`."""

    def __init__(
        self,
        cluster: Cluster,
        http: HttpSettings,
        signing_secret: str,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._cluster = cluster
        self._http = http
        self._clock = wall_clock
        self._verifier = SignatureVerifier(signing_secret, clock=_Clock(wall_clock))
        # (timestamp, signature) of each request taken, by its timestamp: only requests signed
        # with the secret (Slack's own) are remembered.
        self._seen: dict[tuple[str, str], float] = {}
        self._pruned = float("-inf")
        self._taking: set[asyncio.Task[Outcome]] = set()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        timestamp = request.headers.get(TIMESTAMP, "")
        signature = request.headers.get(SIGNATURE, "")
        if not self._verified(body, timestamp, signature):
            log.warning("a request to %s refused: its signature or timestamp is wrong", PATH)
            return _answer(401, "the request's signature or timestamp does not verify")
        if self._replayed(timestamp, signature):
            log.warning("a request to %s refused: a replay of one already taken", PATH)
            return _answer(401, "this request was received already")
        try:
            click = read_click(_payload(body))
        except BadClick as error:
            return _answer(400, f"not a click on the sentinel's buttons: {error}")
        if click is None:
            return web.Response(status=200)  # a link button: the browser opened it
        try:
            action = make_action(
                str(click.verb), click.user, self._clock(), "slack", click.snooze_s
            )
        except BadAction as error:
            return _answer(400, str(error))
        return await self._take(click, action)

    async def close(self) -> None:
        """Wait for the actions still being taken (the server stops)."""
        if self._taking:
            await asyncio.gather(*self._taking, return_exceptions=True)

    def _verified(self, body: bytes, timestamp: str, signature: str) -> bool:
        if not timestamp or not signature:
            return False
        try:
            return self._verifier.is_valid(body, timestamp, signature)
        except (ValueError, UnicodeDecodeError):  # a timestamp that is no number, a bad body
            return False

    def _replayed(self, timestamp: str, signature: str) -> bool:
        """Seen already; else remembered now. Entries older than twice the window go."""
        now = self._clock()
        if now - self._pruned >= WINDOW_S:
            self._pruned = now
            self._seen = {key: at for key, at in self._seen.items() if now - at <= 2 * WINDOW_S}
        key = (timestamp, signature)
        if key in self._seen:
            return True
        self._seen[key] = float(timestamp)
        return False

    async def _take(self, click: Click, action: Action) -> web.Response:
        task = asyncio.create_task(self._act(click.expectation, click.rollout, action))
        self._taking.add(task)
        task.add_done_callback(self._done)
        finished, _ = await asyncio.wait({task}, timeout=ANSWER_WITHIN)
        if task not in finished:
            return web.Response(status=200)  # taken after the answer; the message says so
        try:
            outcome = task.result()
        except Exception:  # a bug must not answer Slack with a traceback
            log.exception("a Slack action failed")
            return _answer(500, "the action could not be taken: see the sentinel's log")
        return _outcome(outcome)

    async def _act(self, expectation: str, key: str, action: Action) -> Outcome:
        """Taken where the rollout lives: here, or forwarded to the peers as the board's
        actions are (`Cluster.act`, with the peer token of the shared key)."""
        body = orjson.dumps(
            {"expectation": expectation, "rollout": key, "action": action.to_json_dict()}
        )
        token = peer_token(self._http, body)
        headers = {} if token is None else {PEER_TOKEN_HEADER: token}
        outcome, _ = await self._cluster.act(expectation, key, action, False, headers)
        return outcome

    def _done(self, task: asyncio.Task[Outcome]) -> None:
        self._taking.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("a Slack action failed", exc_info=error)
            return
        outcome = task.result()
        requested = outcome.requested
        extra = {
            "expectation": requested.expectation,
            "rollout": requested.key,
            "verb": str(requested.action.verb),
            "by": requested.action.by,
        }
        if outcome.refused is not None:
            log.info("a Slack action refused: %s", outcome.refused, extra=extra)
        else:
            log.info("a Slack action taken", extra=extra)


def mount_slack_actions(
    app: web.Application,
    cluster: Cluster,
    http: HttpSettings,
    signing_secret: str,
    wall_clock: Callable[[], float] = time.time,
) -> SlackActions:
    """`POST /slack/actions` on `app` (before it starts)."""
    handler = SlackActions(cluster, http, signing_secret, wall_clock)
    app.router.add_post(PATH, handler.handle)
    app.on_shutdown.append(lambda _: handler.close())
    return handler


def _payload(body: bytes) -> Any:
    """Slack's `payload` form field, as JSON; BadClick when the body has none."""
    try:
        form = parse_qs(body.decode(), strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise BadClick("the body is not a form") from None
    values = form.get("payload", [])
    if len(values) != 1:
        raise BadClick("the form has no payload")
    try:
        return orjson.loads(values[0])
    except orjson.JSONDecodeError:
        raise BadClick("the payload is not JSON") from None


def _outcome(outcome: Outcome) -> web.Response:
    refused = outcome.refused
    if refused is None:
        return web.Response(status=200)
    if isinstance(refused, UnknownRollout):
        return _answer(404, str(refused))
    # Closed, too many actions, the loop stopping or a peer not answering: nothing changed.
    return _answer(409, str(refused))


def _answer(status: int, message: str) -> web.Response:
    return web.Response(
        body=orjson.dumps(error_body(status, message)),
        status=status,
        content_type="application/json",
    )
