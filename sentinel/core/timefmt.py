"""RFC 3339 in and out, as epoch seconds, because every time in the core is a float."""

from __future__ import annotations

from datetime import UTC, datetime

# Event times the sentinel accepts: from the Unix epoch to the year 2200. Beyond them a time
# is a producer's bug (a zero value, a sentinel date such as 9999-12-31), and a deadline set
# from it might not be writable as RFC 3339 at all (years end at 9999).
EARLIEST = 0.0  # 1970-01-01T00:00:00Z
LATEST = 7_258_118_400.0  # 2200-01-01T00:00:00Z


def parse_rfc3339(text: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp; raises ValueError when it is not one."""
    if len(text) < 20 or text[10] not in "Tt ":
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"RFC 3339 timestamp without a UTC offset: {text!r}")
    return parsed.timestamp()


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
_WRITTEN: dict[float, str] = {}
_MOST_WRITTEN = 4096


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


def _written(epoch: float) -> str:
    try:
        moment = datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{epoch!r} is not a time RFC 3339 can write") from None
    # Cut from isoformat() (`2026-11-25T10:00:00.123456+00:00`): twice as fast as strftime,
    # and every finding has one or two times to write. It pads years before 1000 to four
    # digits, as RFC 3339 wants.
    text = moment.isoformat()
    return text[:19] + ("." + text[20:23] + "Z" if moment.microsecond else "Z")
