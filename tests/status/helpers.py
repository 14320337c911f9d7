"""Shared by the status tests: the shipped example log replayed into full rollouts, and a
rollout whose every bus-supplied string is hostile markup."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding
from sentinel.core.events.envelope import Envelope
from sentinel.core.events.schemas import SchemaRegistry
from sentinel.core.pipeline.replay import replay
from sentinel.core.rules.expectations import Compensation, Expectation, Step
from sentinel.core.timefmt import parse_rfc3339
from sentinel.status.api_json import full

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_LOG = ROOT / "expectations" / "examples" / "rollouts.jsonl"
# The example log's last event is at 10:20; a minute later every stall of it has fired.
EXAMPLE_CLOCK = parse_rfc3339("2026-11-25T10:21:00Z")

HOSTILE_KEY = "<img src=x onerror=alert(1)>"
HOSTILE_ID = '"><script>window.__xss=1</script>'
HOSTILE_SOURCE = '=HYPERLINK("http://x")|<b>bold</b>'
HOSTILE_STEP = "Deploy_<svg onload=alert(2)>"
HOSTILE_OWNER = "team-<i>evil</i>"
T0 = parse_rfc3339("2026-11-25T10:00:00Z")


@dataclass(frozen=True)
class Example:
    """The shipped example: its expectations and every rollout of its log, in full."""

    expectations: tuple[Expectation, ...]
    registry: SchemaRegistry
    rollouts: list[dict[str, Any]]
    clock: float

    def rollout(self, key: str) -> dict[str, Any]:
        return next(rollout for rollout in self.rollouts if rollout["rollout"] == key)

    def findings(self) -> list[dict[str, Any]]:
        """Every rollout finding, newest first."""
        every = [finding for rollout in self.rollouts for finding in rollout["findings"]]
        return sorted(every, key=lambda finding: parse_rfc3339(finding["at"]), reverse=True)


def hostile_expectation() -> Expectation:
    """An expectation whose owner and step name are markup (files are trusted less than that)."""
    return Expectation(
        name="hostile",
        owner=HOSTILE_OWNER,
        correlate="data.key",
        deadline=3600.0,
        steps=(
            Step("Start"),
            Step(HOSTILE_STEP, after=("Start",), within=60.0, owner=HOSTILE_OWNER),
            Step("Finish", after=(HOSTILE_STEP,), within=60.0),
        ),
        compensation=(Compensation("Abort", "Aborted", 600.0),),
    )


def hostile_start(at: float = T0) -> Envelope:
    """The event that opens the hostile rollout at `at`: its key, id and source are markup."""
    return Envelope("Start", HOSTILE_ID, HOSTILE_SOURCE, at, {"key": HOSTILE_KEY})


def hostile_rollout(clock_offset: float = 300.0) -> tuple[dict[str, Any], Expectation, float]:
    """(full rollout, its expectation, clock): key, event id and source are markup, and the
    markup-named step has stalled."""
    exp = hostile_expectation()
    engine = Engine([exp], retention_s=float("inf"))
    clock = T0 + clock_offset
    findings: list[Finding] = list(
        replay([hostile_start()], engine, read_at=lambda: T0, until=clock)
    )
    view = engine.view("hostile", HOSTILE_KEY)
    assert view is not None
    return full(view, findings), exp, clock
