"""A real Prometheus for the rule tests: Debian's `prometheus` server on 127.0.0.1, scraping
`sentinel run` processes every second and evaluating the shipped rules every second.

    async with LivePrometheus(tmp_path, ["127.0.0.1:9464"]) as prometheus:
        alert = await prometheus.wait_alert("SentinelDown", instance="127.0.0.1:9464")
        assert await prometheus.quiet(cycles=10) == []
        assert await prometheus.rule_problems() == []

Its API is read with plain HTTP (`/api/v1/rules`, `/api/v1/alerts`, `/api/v1/query`,
`/api/v1/query_exemplars` with `features=["exemplar-storage"]`); the waits poll it from a
thread, so the test's event loop (its Kafka producer) keeps running.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from sentinel.local_port import free_port

from .tools import RULES, prometheus

# The scrape job the shipped rules select (`job="rollout-sentinel"`).
JOB = "rollout-sentinel"
INTERVAL_S = 1.0
ACTIVE = frozenset({"pending", "firing"})
_PORT_ATTEMPTS = 5
# Looked up here, not in the child between fork and exec.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def _exit_with_parent() -> None:
    # PR_SET_PDEATHSIG: no Prometheus outlives a test run killed with SIGKILL.
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM, 0, 0, 0)


class LivePrometheus:
    """One Prometheus with its own port, storage and log under `directory`."""

    def __init__(
        self,
        directory: Path,
        targets: Sequence[str],
        rules: Path = RULES,
        features: Sequence[str] = (),
    ) -> None:
        self.directory = directory / "prometheus"
        self.targets = list(targets)
        self.rules_file = rules
        self.features = list(features)  # --enable-feature, e.g. exemplar-storage
        self.log = self.directory / "prometheus.log"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        return {
            "global": {
                "scrape_interval": f"{INTERVAL_S:g}s",
                "scrape_timeout": f"{INTERVAL_S:g}s",
                "evaluation_interval": f"{INTERVAL_S:g}s",
            },
            "rule_files": [str(self.rules_file)],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": self.targets}]}],
        }

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self, timeout_s: float = 15) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.config()))
        for _ in range(_PORT_ATTEMPTS):
            self._process = self._spawn(config)
            deadline = time.monotonic() + timeout_s
            while self._process.poll() is None and time.monotonic() < deadline:
                if await asyncio.to_thread(self._ready):
                    return
                await asyncio.sleep(0.05)
            if self._process.poll() is None:
                break
            self._process = None  # exited: most likely the port was taken meanwhile
        self.stop()
        raise AssertionError(f"Prometheus did not start; its log:\n{self.log.read_text()}")

    def _spawn(self, config: Path) -> subprocess.Popen[bytes]:
        self.port = free_port()
        with self.log.open("ab") as log:
            return subprocess.Popen(
                [
                    prometheus(),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                    *(f"--enable-feature={feature}" for feature in self.features),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_exit_with_parent,  # noqa: PLW1509
            )

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if error is not None:
            print(f"---- {self.log}", self.log.read_text()[-4000:], sep="\n")

    # ---- the API --------------------------------------------------------------------------

    def api(self, path: str, **params: str) -> Any:
        """The `data` of one `GET /api/v1/<path>` answer."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=5) as response:
            answer = json.load(response)
        assert answer["status"] == "success", answer
        return answer["data"]

    def rules(self) -> list[dict[str, Any]]:
        return [rule for group in self.api("rules")["groups"] for rule in group["rules"]]

    async def rule_problems(self, timeout_s: float = 5) -> list[str]:
        """Every rule that did not evaluate cleanly, with Prometheus's error, once each has been
        evaluated (`health` is "unknown" before its group's first evaluation)."""
        deadline = time.monotonic() + timeout_s
        rules = await asyncio.to_thread(self.rules)
        while any(rule["health"] == "unknown" for rule in rules) and time.monotonic() < deadline:
            await asyncio.sleep(INTERVAL_S / 4)
            rules = await asyncio.to_thread(self.rules)
        return [
            f"{rule['name']}: health {rule['health']}, error {rule.get('lastError')!r}"
            for rule in rules
            if rule["health"] != "ok" or rule.get("lastError")
        ]

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts pending or firing now (`/api/v1/alerts` lists no inactive one)."""
        alerts: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return [alert for alert in alerts if alert["state"] in ACTIVE]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def exemplars(self, expr: str, since_s: float = 600) -> list[dict[str, Any]]:
        """`/api/v1/query_exemplars` over the last `since_s` seconds: per series, its
        `seriesLabels` and `exemplars` (each with `labels`, `value`, `timestamp`)."""
        now = time.time()
        found: list[dict[str, Any]] = self.api(
            "query_exemplars", query=expr, start=f"{now - since_s:.3f}", end=f"{now + 60:.3f}"
        )
        return found

    # ---- waiting --------------------------------------------------------------------------

    async def wait_query(self, expr: str, timeout_s: float = 20) -> list[dict[str, Any]]:
        """The result of `expr` once it has one (a sample scraped, a comparison true)."""
        deadline = time.monotonic() + timeout_s
        while not (result := await asyncio.to_thread(self.query, expr)):
            assert time.monotonic() < deadline, f"waited {timeout_s}s for `{expr}`"
            await asyncio.sleep(INTERVAL_S / 4)
        return result

    async def wait_alert(self, name: str, timeout_s: float = 20, **labels: str) -> dict[str, Any]:
        """The alert `name` with these labels once it is pending or firing."""
        deadline = time.monotonic() + timeout_s
        wanted = {"alertname": name, **labels}.items()
        while True:
            alerts = await asyncio.to_thread(self.alerts)
            for alert in alerts:
                if wanted <= alert["labels"].items():
                    return alert
            if time.monotonic() > deadline:
                names = sorted(alert["labels"]["alertname"] for alert in alerts)
                raise AssertionError(f"waited {timeout_s}s for {dict(wanted)} (active: {names})")
            await asyncio.sleep(INTERVAL_S / 4)

    async def wait_quiet(self, timeout_s: float = 20) -> None:
        """Until no alert is pending or firing (those of a sentinel starting up resolve)."""
        deadline = time.monotonic() + timeout_s
        while active := await asyncio.to_thread(self.alerts):
            if time.monotonic() > deadline:
                names = sorted(alert["labels"]["alertname"] for alert in active)
                raise AssertionError(f"alerts still active after {timeout_s}s: {names}")
            await asyncio.sleep(INTERVAL_S / 4)

    async def quiet(self, cycles: int) -> list[dict[str, Any]]:
        """Every alert pending or firing at any poll until every rule group has been evaluated
        `cycles` more times (polled four times per interval, so none stays unseen)."""
        seen: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        evaluated: dict[str, set[str]] = {}
        while not evaluated or min(map(len, evaluated.values())) <= cycles:
            groups = (await asyncio.to_thread(self.api, "rules"))["groups"]
            for group in groups:
                evaluated.setdefault(group["name"], set()).add(group["lastEvaluation"])
            for alert in await asyncio.to_thread(self.alerts):
                seen[tuple(sorted(alert["labels"].items()))] = alert
            await asyncio.sleep(INTERVAL_S / 4)
        return list(seen.values())
