"""The bounded buffer of recent findings: newest first, oldest dropped, by rollout."""

from __future__ import annotations

import pytest

from sentinel.core.engine.findings import Finding, Kind
from sentinel.status.recent import RecentFindings


def stall(at: float, rollout: str = "r1", expectation: str = "exp") -> Finding:
    return Finding(Kind.STALL, at, expectation=expectation, rollout=rollout, step=f"s{at:g}")


def test_the_newest_come_first() -> None:
    recent = RecentFindings(10)
    for at in (1.0, 2.0, 3.0):
        recent.append(stall(at))
    assert [finding.at for finding in recent.newest()] == [3.0, 2.0, 1.0]


def test_the_oldest_fall_out_beyond_the_capacity() -> None:
    recent = RecentFindings(3)
    recent.extend([stall(float(at)) for at in range(1, 6)])
    assert len(recent) == 3
    assert [finding.at for finding in recent] == [3.0, 4.0, 5.0]


def test_newest_honours_limit_and_since() -> None:
    recent = RecentFindings(10)
    recent.extend([stall(float(at)) for at in range(1, 6)])
    assert [finding.at for finding in recent.newest(limit=2)] == [5.0, 4.0]
    assert [finding.at for finding in recent.newest(since=4.0)] == [5.0, 4.0]
    assert [finding.at for finding in recent.newest(limit=1, since=2.0)] == [5.0]


def test_a_buffer_holds_at_least_one_finding() -> None:
    with pytest.raises(ValueError, match="capacity"):
        RecentFindings(0)
