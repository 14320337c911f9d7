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

from sentinel.config import BasicAuth
from sentinel.status.api_json import (
    STREAM_KEEPALIVE,
    error_body,
    expectation_list,
    finding_list,
    rollout_list,
)
from sentinel.status.assets import openapi_bytes
from sentinel.status.filters import BadQuery, parse_finding_query, parse_rollout_query
from sentinel.web.access import add_security_headers, require_basic_auth
from sentinel.web.cluster import Cluster
from sentinel.web.feed import LiveFeed
from sentinel.web.pages import Pages
from sentinel.web.peers import cancel, is_local

KEEPALIVE_S = 15.0


def mount(
    app: web.Application, cluster: Cluster, feed: LiveFeed, basic_auth: BasicAuth | None
) -> None:
    """The API, the board and the access rules on `app` (before it starts)."""
    api = RolloutApi(cluster, feed)
    pages = Pages(cluster)
    if basic_auth is not None:
        app.middlewares.append(require_basic_auth(basic_auth))
    app.on_response_prepare.append(add_security_headers)
    add = app.router.add_get
    add("/api/v1/rollouts", api.rollouts)
    add("/api/v1/rollouts/{expectation}/{rollout}", api.rollout)
    add("/api/v1/expectations", api.expectations)
    add("/api/v1/findings", api.findings)
    add("/api/v1/stream", api.stream)
    add("/api/v1/openapi.json", api.openapi)
    add("/", pages.board)
    add("/rollouts/{expectation}/{rollout}", pages.rollout)
    add("/static/{name}", pages.static)
    app.on_startup.append(lambda _: cluster.peers.start())
    app.on_shutdown.append(lambda _: api.close_streams())
    app.on_cleanup.append(lambda _: cluster.peers.stop())


class RolloutApi:
    """The handlers of `/api/v1/...`."""

    def __init__(self, cluster: Cluster, feed: LiveFeed) -> None:
        self.cluster = cluster
        self.feed = feed

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


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")
