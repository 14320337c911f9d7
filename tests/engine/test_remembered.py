"""What the hot path remembers instead of computing again (the RFC 3339 form of a time, a
rollout's trace id) is exactly what it would compute, whatever came before, and stays bounded."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinel.core import timefmt
from sentinel.core.engine import tracing
from sentinel.core.timefmt import format_rfc3339, parse_rfc3339

# Year 1 to year 9999: every time RFC 3339 can write.
WRITABLE = st.floats(min_value=-62_135_596_800.0, max_value=253_402_300_799.0)


def written(epoch: float) -> str:
    """The contract's form, computed here without the sentinel's code: UTC, `Z`, milliseconds
    (cut, not rounded, from the microseconds) only when there is a fraction."""
    moment = datetime.fromtimestamp(epoch, UTC)
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    return text + (f".{moment.microsecond // 1000:03d}Z" if moment.microsecond else "Z")


@given(st.lists(WRITABLE, min_size=1, max_size=30))
def test_a_time_is_written_alike_the_first_time_and_again(times: list[float]) -> None:
    for epoch in [*times, *reversed(times)]:
        assert format_rfc3339(epoch) == written(epoch)


def test_times_that_cannot_be_written_are_refused_every_time() -> None:
    for epoch in (float("nan"), float("inf"), 1e20, -1e20):
        for _ in range(2):  # not remembered as anything
            with pytest.raises(ValueError, match="is not a time RFC 3339 can write"):
                format_rfc3339(epoch)


def test_what_is_remembered_is_bounded_and_still_right_after_it_is_cleared() -> None:
    start = 1_795_600_800.0
    for number in range(3 * timefmt._MOST_WRITTEN):
        epoch = start + number * 0.5
        assert format_rfc3339(epoch) == written(epoch)
        assert len(timefmt._WRITTEN) <= timefmt._MOST_WRITTEN
    assert parse_rfc3339(format_rfc3339(start + 0.25)) == start + 0.25


def contract_trace_id(expectation: str, key: str, opened_at: float) -> str:
    """Contract section 13: SHA-256 of J(expectation, key, opened_at as the API writes it)."""
    joined = ["sentinel/1", expectation, key, written(opened_at)]
    data = json.dumps(joined, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(data).hexdigest()[:32]


KEYS = st.text(st.characters(blacklist_categories=["Cs"]), max_size=8)  # no lone surrogates


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), KEYS, WRITABLE), min_size=1, max_size=20))
def test_a_trace_id_is_the_contracts_the_first_time_and_again(
    rollouts: list[tuple[str, str, float]],
) -> None:
    for expectation, key, opened_at in [*rollouts, *rollouts]:
        expected = contract_trace_id(expectation, key, opened_at)
        assert tracing.trace_id_of(expectation, key, opened_at) == expected


def test_remembered_trace_ids_are_bounded() -> None:
    for number in range(2 * tracing._MOST_TRACES + 1):
        tracing.trace_id_of("exp", f"r-{number}", 1_795_600_800.0)
        assert len(tracing._TRACES) <= tracing._MOST_TRACES
    expected = contract_trace_id("exp", "r-0", 1_795_600_800.0)
    assert tracing.trace_id_of("exp", "r-0", 1_795_600_800.0) == expected
