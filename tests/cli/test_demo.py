"""`sentinel demo` (what `make demo` runs): every rollout of the simulation says what it should."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_shows_the_four_rollouts_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    out, err = tmp_path / "demo.out", tmp_path / "demo.err"
    with out.open("wb") as sink, err.open("wb") as errors:
        demo = subprocess.Popen(
            [sys.executable, "-m", "sentinel", "demo", "--speed", "120"],
            cwd=ROOT, stdout=sink, stderr=errors,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        try:
            while out.read_text().count("DEADLINE_EXCEEDED") < 2:
                assert time.monotonic() < deadline, out.read_text()
                assert demo.poll() is None, err.read_text()
                time.sleep(0.2)
            demo.send_signal(signal.SIGINT)  # what Ctrl-C sends
            assert demo.wait(30) == 0
        finally:
            if demo.poll() is None:
                demo.kill()
    lines = out.read_text().splitlines()
    seen = {(line.split()[1], line.split()[2]) for line in lines}
    assert ("COMPLETED", "user-service-v2/r-complete") in seen
    assert ("STALL", "user-service-v2/r-silent") in seen
    assert ("SCHEMA_VIOLATION", "user-service-v2/r-renamed") in seen
    assert ("STALL", "user-service-v2/r-renamed") in seen
    assert ("ROLLBACK", "user-service-v2/r-rollback") in seen
    assert ("ROLLED_BACK", "user-service-v2/r-rollback") in seen
    assert "Traceback" not in err.read_text()
