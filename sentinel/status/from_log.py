"""An event log replayed into full rollouts, the input of the audit report: the tabletop
exercise becomes a report. Purely computational: the caller reads the log and the files."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding
from sentinel.core.engine.limits import DEFAULT_LIMITS, Limits
from sentinel.core.engine.ports import SchemaCheck
from sentinel.core.pipeline.replay import read_lines, replay
from sentinel.core.rules.expectations import Expectation
from sentinel.status.api_json import full
from sentinel.status.period import Period


def report_from_log(
    lines: Iterable[bytes | str],
    expectations: Sequence[Expectation],
    schemas: SchemaCheck | None,
    period: Period,
    read_at: Callable[[], float] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> list[dict[str, Any]]:
    """Every rollout of the log, in full, as `sentinel replay` would leave it.

    The clock moves to the period's end when that is after the last event (`replay --until`),
    so a step still missing then has stalled. Rollouts are all returned: `build_report`
    keeps those of the period. `read_at` is "now" for events without a time that come
    before any timed one (`sentinel replay` passes the wall clock); by default the epoch.
    `limits` are the bounds a `sentinel run` config sets (`report --config`).
    """
    # Closed rollouts must survive to the end: the report shows them all.
    engine = Engine(expectations, schemas, retention_s=float("inf"), limits=limits)
    by_rollout: dict[tuple[str, str], list[Finding]] = {}
    for finding in replay(
        read_lines(lines), engine, read_at=read_at or _epoch_zero, until=period.end
    ):
        if finding.expectation is not None and finding.rollout is not None:
            by_rollout.setdefault((finding.expectation, finding.rollout), []).append(finding)
    rollouts = []
    for name, by_key in engine.rollouts.items():
        for key in by_key:
            view = engine.view(name, key)
            if view is not None:
                rollouts.append(full(view, by_rollout.get((name, key), [])))
    return rollouts


def _epoch_zero() -> float:
    return 0.0
