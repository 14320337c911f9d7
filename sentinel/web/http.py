"""The sentinel's HTTP face: /metrics for Prometheus, /healthz and /readyz for Kubernetes; the
status board and the rollout API are mounted on the same app (sentinel.web.api).

/metrics answers OpenMetrics to a scraper that asks for it (Prometheus does), the one format
that carries exemplars (contract section 13), else the classic text format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric

Probe = Callable[[], tuple[bool, dict[str, Any]]]
OPENMETRICS = "application/openmetrics-text"


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
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        if content_type.startswith(OPENMETRICS):
            body = encode(OpenMetricsView(self._registry))
        else:  # the classic text, with the header it always had
            body, content_type = generate_latest(self._registry), CONTENT_TYPE_LATEST
        return web.Response(body=body, headers={"Content-Type": content_type})

    @staticmethod
    def _probe(check: Probe) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.Response:
            ok, details = check()
            return web.json_response(
                {"status": "ok" if ok else "unavailable", **details}, status=200 if ok else 503
            )

        return handle


class OpenMetricsView:
    """The registry as valid OpenMetrics. A histogram of signed values (the clock skew) has no
    `_sum`, and OpenMetrics then allows no `_count` either (its `+Inf` bucket is the count):
    prometheus_client writes one anyway, and a strict reader refuses the whole scrape. The
    classic text keeps it, as it always did."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        for metric in self._registry.collect():
            names = {sample.name for sample in metric.samples}
            if metric.type != "histogram" or f"{metric.name}_sum" in names:
                yield metric
                continue
            valid = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            valid.samples = [s for s in metric.samples if s.name != f"{metric.name}_count"]
            yield valid


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
