"""Event ids and finding ids leave their memory in clock order, at the retention horizon."""

from __future__ import annotations

from sentinel.core.engine.retention import forget_before


def test_only_the_entries_before_the_horizon_are_forgotten() -> None:
    times = {f"e{n}": float(n) for n in range(10)}
    assert forget_before(times, 4.0) == 4
    assert list(times) == [f"e{n}" for n in range(4, 10)]
    assert forget_before(times, 4.0) == 0


def test_a_horizon_past_everything_forgets_everything() -> None:
    times = {n: float(n) for n in range(100_000)}
    assert forget_before(times, float("inf")) == 100_000
    assert times == {}
