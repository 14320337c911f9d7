"""RFC 3339 in and out, as epoch seconds, because every time in the core is a float."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Final

# Event times the sentinel accepts: from the Unix epoch to the year 2200. Beyond them a time
# is a producer's bug (a zero value, a sentinel date such as 9999-12-31), and a deadline set
# from it might not be writable as RFC 3339 at all (years end at 9999).
EARLIEST: Final = 0.0  # 1970-01-01T00:00:00Z
LATEST: Final = 7_258_118_400.0  # 2200-01-01T00:00:00Z


# Written without datetime (written_utc) from 1970 to 9999: datetime's object, time zone and
# isoformat() cost more than the arithmetic, 2.0 -> 0.9 us a time (timeit, compiled, one
# run). Read without datetime too, for the shape producers write (read_utc): datetime's
# parser is fast, its timestamp() is not. Tests hold both ways to one answer.
_TWO: Final = tuple(f"{n:02d}" for n in range(100))
_THREE: Final = tuple(f"{n:03d}" for n in range(1000))
_YEAR_10000: Final = 253_402_300_800  # 10000-01-01T00:00:00Z: no RFC 3339 time from there on


def parse_rfc3339(text: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp; raises ValueError when it is not one."""
    fast = read_utc(text)
    if fast >= 0.0:
        return fast
    if len(text) < 20 or text[10] not in "Tt ":
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"RFC 3339 timestamp without a UTC offset: {text!r}")
    return parsed.timestamp()


def read_utc(text: str) -> float:
    """`parse_rfc3339` without datetime for the shape producers write, `YYYY-MM-DDTHH:MM:SS`
    with up to six digits of fraction and `Z`, from 1970 to 2254; -1.0 for any other text,
    which is left to datetime (and its errors).

    Every record's time is read, a skipped record's too: datetime's parser is fast, but
    `timestamp()` subtracts two datetimes and counts the difference in Python ints. This is
    4,300 -> 2,100 instructions a time (callgrind, compiled). The epoch's microseconds are
    below 2**53, exact as doubles: one division rounds as `timestamp()`'s int division does."""
    size = len(text)
    if (
        size < 20
        or size > 27
        or size == 21
        or text[size - 1] != "Z"
        or text[4] != "-"
        or text[7] != "-"
        or text[10] != "T"
        or text[13] != ":"
        or text[16] != ":"
    ):
        return -1.0
    year = _digits(text, 0, 4)
    month = _digits(text, 5, 2)
    day = _digits(text, 8, 2)
    hour = _digits(text, 11, 2)
    minute = _digits(text, 14, 2)
    second = _digits(text, 17, 2)
    if not (
        1970 <= year < 2255
        and 1 <= month <= 12
        and 1 <= day <= _days_in(year, month)
        and 0 <= hour <= 23
        and 0 <= minute <= 59
        and 0 <= second <= 59
    ):
        return -1.0
    micro = 0
    if size > 20:
        if text[19] != ".":
            return -1.0
        micro = _digits(text, 20, size - 21)
        if micro < 0:
            return -1.0
        for _ in range(27 - size):  # 0.5 is 500,000 microseconds
            micro *= 10
    seconds = float(_days_since_1970(year, month, day) * 86_400 + hour * 3_600 + minute * 60)
    return ((seconds + second) * 1e6 + micro) / 1e6


def _digits(text: str, start: int, count: int) -> int:
    """The number `count` ASCII digits from `start` write, or -1 when one is not a digit."""
    value = 0
    for at in range(start, start + count):
        digit = ord(text[at]) - 48
        if digit < 0 or digit > 9:
            return -1
        value = value * 10 + digit
    return value


def _days_in(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_since_1970(year: int, month: int, day: int) -> int:
    """H. Hinnant's days_from_civil, for years from 1970 on."""
    year -= month <= 2
    era = year // 400
    of_era = year - era * 400
    of_year = (153 * (month + 9 if month <= 2 else month - 3) + 2) // 5 + day - 1
    return era * 146_097 + of_era * 365 + of_era // 4 - of_era // 100 + of_year - 719_468


def parse_event_time(text: str) -> float:
    """An event's `time`: RFC 3339 within [EARLIEST, LATEST); ValueError says which is wrong."""
    moment = parse_rfc3339(text)
    if not EARLIEST <= moment < LATEST:
        raise ValueError(
            f"time {text!r} is outside what the sentinel accepts"
            " (1970-01-01T00:00:00Z up to 2200-01-01T00:00:00Z)"
        )
    return moment


# Times written lately, by value: live, every record of a batch is read at the one wall-clock
# time of its fetch, and a rollout's times are written again for each of its findings, views
# and trace ids. Cleared when full: a bound on memory, not a policy.
_WRITTEN: Final[dict[float, str]] = {}
_MOST_WRITTEN: Final = 4096


def format_rfc3339(epoch: float) -> str:
    """UTC, `Z`-suffixed; milliseconds only when the time has a fraction. ValueError for a
    time no RFC 3339 string can hold (before year 1 or after 9999)."""
    text = _WRITTEN.get(epoch)
    if text is None:
        text = _written(epoch)
        if len(_WRITTEN) >= _MOST_WRITTEN:
            _WRITTEN.clear()
        _WRITTEN[epoch] = text
    return text


def written_utc(epoch: float) -> str | None:
    """`format_rfc3339` for a time from 1970 to 9999 without datetime (None for others): the
    float rounded to microseconds half to even, as datetime.fromtimestamp rounds it."""
    if not 0.0 <= epoch < _YEAR_10000:  # NaN too
        return None
    fraction, whole = math.modf(epoch)
    micro = round(fraction * 1e6)
    seconds = int(whole)
    if micro >= 1_000_000:
        micro -= 1_000_000
        seconds += 1
        if seconds >= _YEAR_10000:
            return None
    days, second = divmod(seconds, 86_400)
    # The date of `days` since 1970-01-01 (H. Hinnant's algorithm, days >= 0 here).
    shifted = days + 719_468
    era = shifted // 146_097
    of_era = shifted - era * 146_097
    year_of_era = (of_era - of_era // 1_460 + of_era // 36_524 - of_era // 146_096) // 365
    of_year = of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * of_year + 2) // 153
    day = of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + 3 if shifted_month < 10 else shifted_month - 9
    year = year_of_era + era * 400 + (month <= 2)
    hour, rest = divmod(second, 3_600)
    minute, second = divmod(rest, 60)
    # Milliseconds cut, not rounded, as the datetime path cuts isoformat()'s microseconds.
    fraction_text = f".{_THREE[micro // 1_000]}Z" if micro else "Z"
    return (
        f"{_TWO[year // 100]}{_TWO[year % 100]}-{_TWO[month]}-{_TWO[day]}"
        f"T{_TWO[hour]}:{_TWO[minute]}:{_TWO[second]}{fraction_text}"
    )


def _written(epoch: float) -> str:
    fast = written_utc(epoch)
    if fast is not None:
        return fast
    try:
        moment = datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{epoch!r} is not a time RFC 3339 can write") from None
    # Cut from isoformat() (`2026-11-25T10:00:00.123456+00:00`): twice as fast as strftime,
    # and every finding has one or two times to write. It pads years before 1000 to four
    # digits, as RFC 3339 wants.
    text = moment.isoformat()
    return text[:19] + ("." + text[20:23] + "Z" if moment.microsecond else "Z")
