"""The status board's pages (`/`, `/rollouts/{expectation}/{rollout}`) and their static files,
rendered by `sentinel.status` from the cluster's answers (this replica's and its peers')."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from sentinel.status.actions_view import VIEWER, Actor
from sentinel.status.assets import HTML_CONTENT_TYPE, static_file
from sentinel.status.board import RECENT_ON_BOARD, BoardFilters, render_board
from sentinel.status.filters import FindingQuery
from sentinel.status.rollout_page import render_not_found, render_rollout_page
from sentinel.web.cluster import Cluster
from sentinel.web.peers import is_local


class Pages:
    """The handlers of the board, the rollout page and `/static/`."""

    def __init__(
        self, cluster: Cluster, actor: Callable[[web.Request], Actor] = lambda _: VIEWER
    ) -> None:
        self.cluster = cluster
        # Who asks (sentinel.web.access.actors): an operator's rollout page can act on it.
        self.actor = actor

    async def board(self, request: web.Request) -> web.Response:
        filters = BoardFilters.from_query(request.query)
        local = is_local(request)
        (listing, missing), (findings, silent) = await asyncio.gather(
            self.cluster.rollouts(filters.query(), local),
            self.cluster.findings(FindingQuery(limit=RECENT_ON_BOARD), local),
        )
        replica = self.cluster.replica
        html = render_board(
            listing.rows,
            findings,
            replica.expectations,
            replica.clock,
            filters,
            partial=sorted({*missing, *silent}),
            listing=listing,
        )
        return _html(html)

    async def rollout(self, request: web.Request) -> web.Response:
        expectation, key = request.match_info["expectation"], request.match_info["rollout"]
        found, partial = await self.cluster.rollout(expectation, key, is_local(request))
        replica = self.cluster.replica
        if found is None:
            return _html(render_not_found(expectation, key, replica.clock, partial), 404)
        shown = render_rollout_page(
            found, replica.expectation(expectation), replica.clock, self.actor(request)
        )
        return _html(shown)

    async def static(self, request: web.Request) -> web.Response:
        found = static_file(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound(text="no such file")
        body, content_type = found
        return web.Response(body=body, headers={"Content-Type": content_type})


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(
        body=text.encode(), status=status, headers={"Content-Type": HTML_CONTENT_TYPE}
    )
