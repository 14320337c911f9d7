"""Durations as people write them in expectation and config files: `90s`, `1h30m`, `PT10M`."""

from __future__ import annotations

import re

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
# A hundred years: any window a rollout may have, and far inside what a time can be written as
# (event times end in 2200: sentinel.core.timefmt).
LONGEST_S = 36500 * 86400.0
_COMPACT = re.compile(r"(?:(\d+(?:\.\d+)?)(ms|d|h|m|s))")
_ISO = re.compile(
    r"P(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?"
)


def parse_duration(text: str) -> float:
    """Seconds in `text`; raises ValueError with a message saying what is accepted."""
    candidate = text.strip()
    seconds = _parse_iso(candidate) if candidate[:1] in "pP" else _parse_compact(candidate)
    if seconds is None:
        raise ValueError(
            f"{text!r} is not a duration: write e.g. 90s, 10m, 1h30m, 2d or ISO 8601 PT10M"
        )
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    if seconds > LONGEST_S:
        raise ValueError(f"{text!r} is longer than 36500d (100 years)")
    return seconds


def _parse_compact(text: str) -> float | None:
    if not text:
        return None
    position, total = 0, 0.0
    for match in _COMPACT.finditer(text):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    return total if position == len(text) else None


def _parse_iso(text: str) -> float | None:
    match = _ISO.fullmatch(text.upper())
    if match is None or not any(match.groupdict().values()) or text.upper().endswith("T"):
        return None
    parts = {unit: float(value) for unit, value in match.groupdict().items() if value}
    return sum(value * _UNITS[unit] for unit, value in parts.items())


def format_duration(seconds: float) -> str:
    """The compact form, largest units first: 5430 -> `1h30m30s`."""
    remaining = round(seconds)
    if remaining <= 0:
        return f"{seconds:.3g}s"
    pieces = []
    for unit in ("d", "h", "m", "s"):
        size = int(_UNITS[unit])
        count, remaining = divmod(remaining, size)
        if count:
            pieces.append(f"{count}{unit}")
    return "".join(pieces)
