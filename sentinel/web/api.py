"""The rollout API (`/api/v1/...`, contract section 11) on the sentinel's HTTP server, and the
mounting of it, the board's pages and the access rules beside /metrics, /healthz, /readyz.

The JSON shapes, filters and pages are `sentinel.status`'s (pure); this module only reads the
request, asks the cluster (this replica and its peers) and writes the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from aiohttp import web

from sentinel.config import BasicAuth, HttpSettings
from sentinel.core.durations import parse_duration
from sentinel.core.engine.actions import Action, ActionRefused, Outcome, make_action
from sentinel.status.api_json import (
    STREAM_KEEPALIVE,
    error_body,
    expectation_list,
    finding_list,
    rollout_list,
)
from sentinel.status.assets import openapi_bytes
from sentinel.status.filters import BadQuery, parse_finding_query, parse_rollout_query
from sentinel.status.operators import PEER_TOKEN_HEADER, peer_token, peer_token_matches
from sentinel.web.access import (
    action_refusal,
    actors,
    add_security_headers,
    request_user,
    require_basic_auth,
    sessions,
)
from sentinel.web.cluster import PEER_ACTIONS_PATH, REFUSED_STATUS, Cluster
from sentinel.web.feed import LiveFeed
from sentinel.web.pages import Pages
from sentinel.web.peers import cancel, is_local

KEEPALIVE_S = 15.0


def mount(
    app: web.Application,
    cluster: Cluster,
    feed: LiveFeed,
    basic_auth: BasicAuth | None,
    http: HttpSettings | None = None,
) -> None:
    """The API, the board and the access rules on `app` (before it starts). `http` names the
    operators who may act on rollouts (none without it)."""
    settings = http if http is not None else HttpSettings(basic_auth=basic_auth)
    api = RolloutApi(cluster, feed, settings)
    pages = Pages(cluster, actors(settings))
    if basic_auth is not None:
        app.middlewares.append(require_basic_auth(basic_auth))
    app.middlewares.append(sessions)  # inside basic auth: a page for a known user only
    app.on_response_prepare.append(add_security_headers)
    add = app.router.add_get
    add("/api/v1/rollouts", api.rollouts)
    add("/api/v1/rollouts/{expectation}/{rollout}", api.rollout)
    add("/api/v1/expectations", api.expectations)
    add("/api/v1/findings", api.findings)
    add("/api/v1/stream", api.stream)
    add("/api/v1/openapi.json", api.openapi)
    app.router.add_post("/api/v1/rollouts/{expectation}/{rollout}/actions", api.act)
    app.router.add_post(PEER_ACTIONS_PATH, api.act_for_peer)
    add("/", pages.board)
    add("/rollouts/{expectation}/{rollout}", pages.rollout)
    add("/static/{name}", pages.static)
    app.on_startup.append(lambda _: cluster.peers.start())
    app.on_shutdown.append(lambda _: api.close_streams())
    app.on_cleanup.append(lambda _: cluster.peers.stop())


class RolloutApi:
    """The handlers of `/api/v1/...`."""

    def __init__(self, cluster: Cluster, feed: LiveFeed, http: HttpSettings | None = None) -> None:
        self.cluster = cluster
        self.feed = feed
        self.http = http if http is not None else HttpSettings()

    async def rollouts(self, request: web.Request) -> web.Response:
        try:
            query = parse_rollout_query(request.query)
        except BadQuery as error:
            return _json(error_body(400, str(error)), 400)
        page, partial = await self.cluster.rollouts(query, is_local(request))
        clock = self.cluster.replica.clock
        body = rollout_list(clock, page.rows, partial, page.total, page.with_problems, page.next)
        return _json(body)

    async def rollout(self, request: web.Request) -> web.Response:
        expectation, key = request.match_info["expectation"], request.match_info["rollout"]
        found, partial = await self.cluster.rollout(expectation, key, is_local(request))
        if found is None:
            message = f"no rollout {key!r} of expectation {expectation!r} is open or in the history"
            return _json(error_body(404, message, partial), 404)
        return _json(found)

    async def act(self, request: web.Request) -> web.Response:
        """`POST .../actions` (contract section 14): an operator's action from the board's
        own page (sentinel.web.access.action_refusal), taken where the rollout lives; the
        answer is the rollout's actions, or why nothing changed."""
        expectation, key = request.match_info["expectation"], request.match_info["rollout"]
        refusal = action_refusal(self.http, request)
        user = request_user(request)
        if refusal is not None or user is None:
            return _json(error_body(403, refusal or "who acts must be known"), 403)
        try:
            action = _asked_action(await request.read(), user, self.cluster.replica.now())
        except ActionRefused as error:
            return _json(error_body(400, str(error)), 400)
        body = orjson.dumps(
            {"expectation": expectation, "rollout": key, "action": action.to_json_dict()}
        )
        token = peer_token(self.http, body)
        headers = {} if token is None else {PEER_TOKEN_HEADER: token}
        outcome, partial = await self.cluster.act(expectation, key, action, False, headers)
        return _acted(expectation, key, outcome, partial)

    async def act_for_peer(self, request: web.Request) -> web.Response:
        """An action a peer forwards (`Cluster.act`): taken only if this replica holds the
        rollout; the body must carry the peer token of the shared key."""
        body = await request.read()
        if not is_local(request) or not peer_token_matches(
            self.http, body, request.headers.get(PEER_TOKEN_HEADER)
        ):
            return _json(error_body(403, "only a peer replica forwards actions here"), 403)
        try:
            data = orjson.loads(body)
            expectation, key = str(data["expectation"]), str(data["rollout"])
            action = Action.from_json_dict(data["action"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            return _json(error_body(400, f"not a forwarded action: {error}"), 400)
        outcome, partial = await self.cluster.act(expectation, key, action, True)
        return _acted(expectation, key, outcome, partial)

    async def expectations(self, request: web.Request) -> web.Response:
        return _json(expectation_list(self.cluster.replica.expectations))

    async def findings(self, request: web.Request) -> web.Response:
        try:
            query = parse_finding_query(request.query)
        except BadQuery as error:
            return _json(error_body(400, str(error)), 400)
        rows, partial = await self.cluster.findings(query, is_local(request))
        return _json(finding_list(self.cluster.replica.clock, rows, partial))

    async def openapi(self, request: web.Request) -> web.Response:
        return web.Response(body=openapi_bytes(), content_type="application/json")

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """Each finding as it is kept, here and (unless a peer asks) at every peer."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        subscriber = self.feed.subscribe()
        followed: list[asyncio.Task[None]] = []
        if not is_local(request):
            addresses, _ = await self.cluster.peers.addresses()
            peers = self.cluster.peers
            followed = [
                asyncio.create_task(peers.follow(address, subscriber.put)) for address in addresses
            ]
        try:
            await response.write(STREAM_KEEPALIVE)
            while not subscriber.overflowed:
                try:
                    message = await asyncio.wait_for(subscriber.get(), KEEPALIVE_S)
                except TimeoutError:
                    message = STREAM_KEEPALIVE
                if message is None:
                    break
                await response.write(message)
        except ConnectionResetError:
            pass  # the reader went away
        finally:
            self.feed.unsubscribe(subscriber)
            await cancel(followed)
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response

    async def close_streams(self) -> None:
        self.feed.close()


_ASKED_KEYS = frozenset({"verb", "for", "note"})


def _asked_action(body: bytes, user: str, now: float) -> Action:
    """The action a board's request asks for (`{"verb", "for", "note"}`), by `user` now;
    ActionRefused (a 400) saying what to fix when the body is not one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ActionRefused('the body must be JSON such as {"verb": "acknowledge"}') from None
    if not isinstance(data, dict):
        raise ActionRefused('the body must be a JSON object such as {"verb": "acknowledge"}')
    unknown = sorted(set(data) - _ASKED_KEYS)
    if unknown:
        raise ActionRefused(f"unknown keys {', '.join(unknown)}: give verb, for, note")
    verb, length, note = data.get("verb"), data.get("for"), data.get("note")
    if not isinstance(verb, str):
        raise ActionRefused("verb is required: acknowledge, snooze, note or abandon")
    if length is not None and not isinstance(length, str):
        raise ActionRefused('for must be a duration such as "1h"')
    if note is not None and not isinstance(note, str):
        raise ActionRefused("note must be text")
    try:
        seconds = None if length is None else parse_duration(length)
    except ValueError as error:
        raise ActionRefused(f"for: {error}") from None
    return make_action(verb, user, now, "board", seconds, note)


def _acted(expectation: str, key: str, outcome: Outcome, partial: list[str]) -> web.Response:
    refused = outcome.refused
    if refused is not None:
        status = REFUSED_STATUS.get(type(refused), 503)
        return _json(error_body(status, str(refused), partial), status)
    actions = [action.to_json_dict() for action in outcome.actions]
    return _json({"expectation": expectation, "rollout": key, "actions": actions})


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")
