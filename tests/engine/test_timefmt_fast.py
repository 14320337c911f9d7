"""Times written without datetime (timefmt.written_utc) are exactly what datetime writes, and
every other time is left to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sentinel.core.timefmt import format_rfc3339, parse_rfc3339, written_utc

YEAR_10000 = 253_402_300_800.0


def datetime_writes(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    text = moment.isoformat()
    return text[:19] + ("." + text[20:23] + "Z" if moment.microsecond else "Z")


@given(st.floats(min_value=0.0, max_value=YEAR_10000, exclude_max=True))
@example(0.0)
@example(0.9999995)  # rounds up to the next second
@example(0.0000005)  # half a microsecond: to even, 0
@example(0.0000015)  # to even, 2
@example(1_796_584_231.6135)
@example(951_868_799.999_999_5)  # 2000-02-29T23:59:59.999999...: into March
@example(YEAR_10000 - 0.000_000_1)  # rounds into year 10000: not writable
def test_a_time_from_1970_is_written_as_datetime_writes_it(epoch: float) -> None:
    fast = written_utc(epoch)
    try:
        expected = datetime_writes(epoch)
    except ValueError:
        assert fast is None
        return
    assert fast == expected


@pytest.mark.parametrize("epoch", [-1.0, -0.5, float("nan"), float("inf"), YEAR_10000, 1e300])
def test_a_time_before_1970_or_not_writable_is_left_to_datetime(epoch: float) -> None:
    assert written_utc(epoch) is None


def test_written_and_read_again_is_the_same_millisecond() -> None:
    start = datetime(2026, 12, 6, 19, 10, 31, 613_000, tzinfo=UTC).timestamp()
    for step in range(0, 10_000, 7):
        epoch = start + step * 86_400.123
        text = format_rfc3339(epoch)
        assert text == datetime_writes(epoch)
        expected = datetime.fromtimestamp(epoch, UTC).replace(
            microsecond=datetime.fromtimestamp(epoch, UTC).microsecond // 1000 * 1000
        )
        assert parse_rfc3339(text) == expected.timestamp()
        assert expected - datetime.fromtimestamp(epoch, UTC) <= timedelta(0)
