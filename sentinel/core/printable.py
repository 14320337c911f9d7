"""Text from the bus made inert for a terminal or a plain-text alert: rollout keys and event
types are whatever a producer wrote, escape sequences included."""

from __future__ import annotations

import re

# What a terminal would obey instead of showing (issue 22): C0 controls (ESC starts colour,
# cursor and screen-clearing sequences, OSC 8 links; CR and LF fake lines), DEL, C1 controls,
# the Unicode line and paragraph separators, and the bidirectional marks and overrides that
# reorder what is shown ("Trojan Source").
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with each of those characters shown as its escape, as Python writes it
    (`\\x1b`, `\\n`, `\\u202e`): inert in a terminal, and still telling what the bus sent."""
    if _UNPRINTABLE.search(text) is None:
        return text
    return _UNPRINTABLE.sub(_escape, text)


def _escape(found: re.Match[str]) -> str:
    character = found.group()
    code = ord(character)
    named = _NAMED.get(character)
    if named is not None:
        return named
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
