"""Times written without datetime (timefmt.written_utc) are exactly what datetime writes, and
every other time is left to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sentinel.core.timefmt import format_rfc3339, parse_rfc3339, read_utc, written_utc

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


@given(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    st.sampled_from(["Z", "+00:00", "-00:00", "+05:30", "-11:00"]),
    st.sampled_from([0, 1, 3, 6]),
)
@example(datetime(1970, 1, 1), "Z", 0)
@example(datetime(1969, 12, 31, 23, 59, 59, 999_999), "Z", 6)
@example(datetime(2255, 6, 5, 23, 47, 34, 740_991), "Z", 6)  # 2**53 microseconds and after
@example(datetime(2255, 6, 5, 23, 47, 34, 740_992), "Z", 6)
def test_a_time_is_read_as_datetime_reads_it(moment: datetime, offset: str, digits: int) -> None:
    text = moment.isoformat(timespec="seconds") + (
        f".{moment.microsecond:06d}"[: digits + 1] if digits else ""
    )
    expected = datetime.fromisoformat(text + offset).timestamp()
    assert parse_rfc3339(text + offset) == expected


def datetime_reads(text: str) -> float | str:
    """What parse_rfc3339 did before read_utc: its value, or "error"."""
    try:
        if len(text) < 20 or text[10] not in "Tt ":
            return "error"
        parsed = datetime.fromisoformat(text)
        return "error" if parsed.tzinfo is None else parsed.timestamp()
    except ValueError:
        return "error"


def reads(text: str) -> float | str:
    try:
        return parse_rfc3339(text)
    except ValueError:
        return "error"


@given(
    st.datetimes(min_value=datetime(1960, 1, 1), max_value=datetime(2300, 1, 1)),
    st.integers(min_value=0, max_value=28),
    st.sampled_from([*"0159xT Zz.:-+,", "\u0663", "00", ""]),
)
@example(datetime(2024, 2, 29), 9, "0")  # 2024-02-20: a leap day's neighbour
@example(datetime(2023, 2, 28), 9, "9")  # 2023-02-29: no such day
@example(datetime(2026, 1, 1), 11, "2")  # hour 20
@example(datetime(2026, 1, 1), 12, "4")  # hour 04, then 24 with "2" at 11
def test_a_text_near_the_usual_shape_is_read_or_refused_as_datetime_does(
    moment: datetime, at: int, replacement: str
) -> None:
    """read_utc takes only what datetime reads to the same value; anything else (a wrong
    character anywhere, a day a month has not, a year out of its range) is left to it."""
    text = moment.isoformat(timespec="microseconds") + "Z"
    text = text[:at] + replacement + text[at + 1 :]
    assert reads(text) == datetime_reads(text)
    fast = read_utc(text)
    assert fast == -1.0 or fast == datetime_reads(text)


def test_the_usual_shape_is_read_without_datetime() -> None:
    """The fast path is taken where it should be (a test that read_utc is not always -1)."""
    assert read_utc("2026-12-06T21:45:05Z") == 1_796_593_505.0
    assert read_utc("2026-12-06T21:45:05.1Z") == 1_796_593_505.1
    assert read_utc("2024-02-29T23:59:59.999999Z") == datetime_reads("2024-02-29T23:59:59.999999Z")
    assert read_utc("2026-12-06T21:45:05+00:00") == -1.0  # datetime's
    assert read_utc("2255-01-01T00:00:00Z") == -1.0  # beyond exact microseconds
