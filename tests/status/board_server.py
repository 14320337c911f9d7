"""A stand-in for the sentinel's HTTP server in browser tests: the board's pages, its static
files and the rollout API, over rollouts and a finding stream that the test controls."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from sentinel.core.engine.findings import Finding
from sentinel.core.rules.expectations import Expectation
from sentinel.status.api_json import (
    error_body,
    expectation_list,
    finding_list,
    rollout_list,
    stream_message,
)
from sentinel.status.assets import HTML_CONTENT_TYPE, SECURITY_HEADERS, openapi_bytes, static_file
from sentinel.status.board import BoardFilters, render_board
from sentinel.status.filters import (
    BadQuery,
    paginate,
    parse_finding_query,
    parse_rollout_query,
    select_findings,
)
from sentinel.status.rollout_page import render_rollout_page


@dataclass
class BoardServer:
    """The state behind the pages: full rollouts by (expectation, key), and the stream."""

    expectations: list[Expectation]
    clock: float
    rollouts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    streams: list[asyncio.Queue[dict[str, Any] | None]] = field(default_factory=list)

    def put(self, rollout: Mapping[str, Any]) -> None:
        self.rollouts[(rollout["expectation"], rollout["rollout"])] = dict(rollout)

    def push(self, finding: dict[str, Any]) -> None:
        """Raise a finding: every open stream sends it as the sentinel does (`event: finding`)."""
        self.findings.insert(0, finding)
        for queue in self.streams:
            queue.put_nowait(finding)

    def close_streams(self) -> None:
        for queue in self.streams:
            queue.put_nowait(None)

    def app(self) -> web.Application:
        app = web.Application()
        app.on_response_prepare.append(_security_headers)
        app.router.add_get("/", self.board)
        app.router.add_get("/rollouts/{expectation}/{rollout}", self.rollout_page)
        app.router.add_get("/static/{name}", self.static)
        app.router.add_get("/api/v1/rollouts", self.rollout_list)
        app.router.add_get("/api/v1/rollouts/{expectation}/{rollout}", self.rollout_json)
        app.router.add_get("/api/v1/stream", self.stream)
        app.router.add_get("/api/v1/expectations", self.expectation_json)
        app.router.add_get("/api/v1/findings", self.finding_json)
        app.router.add_get("/api/v1/openapi.json", self.openapi)
        return app

    def _summaries(self) -> list[dict[str, Any]]:
        return [
            {key: value for key, value in rollout.items() if key != "findings"}
            for rollout in self.rollouts.values()
        ]

    async def board(self, request: web.Request) -> web.Response:
        open_ones = [s for s in self._summaries() if s["phase"] in ("open", "rolling_back")]
        html = render_board(
            open_ones,
            self.findings,
            self.expectations,
            self.clock,
            BoardFilters.from_query(request.query),
        )
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    async def rollout_page(self, request: web.Request) -> web.Response:
        key = (request.match_info["expectation"], request.match_info["rollout"])
        if key not in self.rollouts:
            raise web.HTTPNotFound(text="no such rollout")
        expectation = next((e for e in self.expectations if e.name == key[0]), None)
        html = render_rollout_page(self.rollouts[key], expectation, self.clock)
        return web.Response(body=html.encode(), headers={"Content-Type": HTML_CONTENT_TYPE})

    async def static(self, request: web.Request) -> web.Response:
        found = static_file(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        body, content_type = found
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def rollout_list(self, request: web.Request) -> web.Response:
        try:
            query = parse_rollout_query(request.query)
        except BadQuery as error:
            return _json(error_body(400, str(error)), status=400)
        page = paginate(self._summaries(), query)
        body = rollout_list(self.clock, page.rows, (), page.total, page.with_problems, page.next)
        return _json(body)

    async def rollout_json(self, request: web.Request) -> web.Response:
        key = (request.match_info["expectation"], request.match_info["rollout"])
        if key not in self.rollouts:
            return _json(error_body(404, "no such rollout"), status=404)
        return _json(self.rollouts[key])

    async def expectation_json(self, request: web.Request) -> web.Response:
        return _json(expectation_list(self.expectations))

    async def finding_json(self, request: web.Request) -> web.Response:
        try:
            query = parse_finding_query(request.query)
        except BadQuery as error:
            return _json(error_body(400, str(error)), status=400)
        return _json(finding_list(self.clock, select_findings(self.findings, query)))

    async def openapi(self, request: web.Request) -> web.Response:
        return web.Response(body=openapi_bytes(), content_type="application/json")

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.streams.append(queue)
        try:
            await response.write(b": hello\n\n")
            while (finding := await queue.get()) is not None:
                await response.write(stream_message(Finding.from_json_dict(finding)))
        finally:
            self.streams.remove(queue)
        return response


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")
