"""The skim of a structured record: a byte search for the names of the types passed over,
compiled, and only where one is found the read of its top-level `type` and `time` (`peek`)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from sentinel.core.events.envelope import Skipped
from sentinel.core.events.peek import read_skipped

# Up to this many types to pass over, a value that holds none of their names as a JSON string
# is not skimmed at all: a search per name costs about a third of msgspec's read (0.2-0.3 us
# against 0.75 us on a 170-byte event), and on a bus of watched types that read found nothing
# to skip in most records. Compiled, the search costs less than the call into `peek` would:
# it runs for every record while any type is passed over.
SEARCHED_NAMES: Final = 8


class _QuotedNames:
    """The names of the types passed over as JSON strings hold them, made again only when
    the set holds others (it changes seldom: a new type is found, the rules are reloaded)."""

    def __init__(self) -> None:
        self.types: tuple[str, ...] = ()
        self.names: tuple[bytes, ...] = ()

    def of(self, skip: Collection[str]) -> tuple[bytes, ...]:
        same = len(self.types) == len(skip)
        for name in self.types:  # as many, and each of them in it: the same set of names
            if name not in skip:
                same = False
                break
        if not same:
            self.types = tuple(skip)
            self.names = tuple(b'"' + n.encode("utf-8", "surrogatepass") + b'"' for n in self.types)
        return self.names


_QUOTED: Final = _QuotedNames()


def skim_structured(value: bytes, skip: Collection[str]) -> Skipped | None:
    """A JSON object (a structured CloudEvent or a plain object) whose top-level `type` is in
    `skip`; None when it must be decoded in full: another type, or anything the full decode
    would look at twice (not JSON, not an object, a `type` or `time` of another kind, a time
    that is not RFC 3339).

    A name written with JSON escapes (`\\u0041`) is not found by the search: such a record is
    decoded in full, as one of a watched type is (passing over is a saving, never a meaning)."""
    if len(skip) <= SEARCHED_NAMES:
        for name in _QUOTED.of(skip):
            # find, not `in`: bytes' `in` first tries its argument as an int and formats the
            # TypeError that says it is not one (a third of the search's time).
            if value.find(name) >= 0:
                break
        else:
            return None
    return read_skipped(value, skip)
