"""The sentinel's HTTP face: /metrics for Prometheus, /healthz and /readyz for Kubernetes; the
status board and the rollout API are mounted on the same app (sentinel.web.api)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

Probe = Callable[[], tuple[bool, dict[str, Any]]]


class HttpServer:
    """An aiohttp app on `host:port`; probes answer 200 or 503 with their details as JSON."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry) -> None:
        self.host, self.port = host, port
        self._registry = registry
        # Set by whoever runs the loop (the watcher); until then both say "not yet".
        self.health: Probe = _not_yet
        self.ready: Probe = _not_yet
        self.app = web.Application()
        self.app.router.add_get("/metrics", self._metrics)
        # Looked up per request: the watcher sets them after building the server.
        self.app.router.add_get("/healthz", self._probe(lambda: self.health()))  # noqa: PLW0108
        self.app.router.add_get("/readyz", self._probe(lambda: self.ready()))  # noqa: PLW0108
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner, self.port = await serve(self.app, self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    @staticmethod
    def _probe(check: Probe) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.Response:
            ok, details = check()
            return web.json_response(
                {"status": "ok" if ok else "unavailable", **details}, status=200 if ok else 503
            )

        return handle


def _not_yet() -> tuple[bool, dict[str, Any]]:
    return False, {"loop": False}


async def serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve `app` on host:port; the port it got (port 0 asks for any free one: tests, demo)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    if port == 0 and server is not None and server.sockets:  # type: ignore[attr-defined]
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    return runner, port
