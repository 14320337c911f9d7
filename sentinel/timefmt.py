"""RFC 3339 in and out, as epoch seconds, because every time in the core is a float."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_rfc3339(text: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp; raises ValueError when it is not one."""
    if len(text) < 20 or text[10] not in "Tt ":
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"RFC 3339 timestamp without a UTC offset: {text!r}")
    return parsed.timestamp()


def format_rfc3339(epoch: float) -> str:
    """UTC, `Z`-suffixed; milliseconds only when the time has a fraction."""
    moment = datetime.fromtimestamp(epoch, UTC)
    if moment.year >= 1000:
        # Cut from isoformat() (`2026-11-25T10:00:00.123456+00:00`): twice as fast as
        # strftime, and every finding has one or two times to write.
        text = moment.isoformat()
        return text[:19] + ("." + text[20:23] + "Z" if moment.microsecond else "Z")
    if moment.microsecond:  # strftime writes years before 1000 without zeros in front
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
