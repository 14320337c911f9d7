"""`sentinel demo` (what `make demo` runs) as a test runs it: a real process tree, its output in
files, the board's address and the run's password read from its first line, its state file from
its banner, and the board's API asked as the demo user."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The first line: the board's address and how to sign in to it, printed before anything starts.
FIRST_LINE = re.compile(
    r"rollout-sentinel demo: open the status board at (?P<url>http://127\.0\.0\.1:\d+/)"
    r" \(user (?P<user>\w+), password (?P<password>[A-Za-z0-9_-]{12,})\)"
)
STATE_FILE = re.compile(r"kept in (?P<path>/\S+/state\.db)\b")


class Demo:
    """One `sentinel demo` process; `start()` returns once its first line is printed."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.out, self.err = tmp_path / "demo.out", tmp_path / "demo.err"
        with self.out.open("wb") as sink, self.err.open("wb") as errors:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sentinel", "demo", *args],
                cwd=ROOT,
                stdout=sink,
                stderr=errors,
                env={**os.environ, **(env or {})},
            )
        self.url = self.user = self.password = ""

    def start(self, within_s: float = 30) -> Demo:
        deadline = time.monotonic() + within_s
        while not self.out.read_text().endswith("\n"):
            assert self.process.poll() is None, self.err.read_text()
            assert time.monotonic() < deadline, "the demo printed nothing"
            time.sleep(0.05)
        first = self.out.read_text().splitlines()[0]
        match = FIRST_LINE.fullmatch(first)
        assert match is not None, first
        self.url, self.user, self.password = match["url"], match["user"], match["password"]
        return self

    def lines(self) -> list[str]:
        return self.out.read_text().splitlines()

    @property
    def credentials(self) -> dict[str, str]:
        """Playwright's `http_credentials` of the demo user."""
        return {"username": self.user, "password": self.password}

    def authorization(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def get_json(self, path: str) -> Any:
        """A GET of the board's API as the demo user (`path` without the leading slash)."""
        request = urllib.request.Request(self.url + path, headers=self.authorization())
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def wait_until_served(self, within_s: float = 30) -> None:
        deadline = time.monotonic() + within_s
        while True:
            try:
                with urllib.request.urlopen(self.url + "healthz", timeout=1):
                    return
            except urllib.error.HTTPError:
                return  # it answers (503 until Kafka has assigned the partitions)
            except OSError:
                assert self.process.poll() is None, "the demo stopped"
                assert time.monotonic() < deadline, "the board never answered"
                time.sleep(0.1)

    def state_file(self) -> Path:
        """The state file the banner names (in the demo's temporary work directory)."""
        match = STATE_FILE.search(self.err.read_text())
        assert match is not None, self.err.read_text()
        return Path(match["path"])

    def interrupt(self, within_s: float = 30) -> int:
        """Ctrl-C, as a person stops it: its exit status."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(within_s)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
