"""Finding the correlation path: the field whose values group events of several types.

The first events of the log are a sample. Every attribute and every field of `data` (three
levels deep) that holds a string or an integer is a candidate path; a path scores for each
value that groups two or more event types, and loses for each type repeated under one value
(a constant such as `env: prod` groups everything, over and over). The best path claims the
types it groups; the next best is chosen among the types left, until no path groups any.
So one log may yield several paths: one per family of rollouts. Purely computational.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sentinel.core.events.envelope import Envelope

# Attributes that describe the event's encoding, never the rollout. The envelope's own `id`,
# `type`, `time` and `source` are not candidates either: `source` names the producer, and one
# producer serves many rollouts (it can still be given with --correlate).
_NOT_KEYS = frozenset({"specversion", "datacontenttype", "dataschema"})
# A plain JSON event is its own `data`: its envelope fields are not data fields.
_PLAIN_ENVELOPE = frozenset({"id", "type", "source", "time", "specversion"})
_MAX_DEPTH = 3
# Longer values are payloads (messages, documents), not keys.
_MAX_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class PathChoice:
    """A chosen path and the event types it claimed, with the evidence for it."""

    path: str
    types: frozenset[str]
    score: int
    groups: int  # values that grouped two or more of its types


def candidate_keys(event: Envelope) -> dict[str, str]:
    """Every path of this event whose value could be a rollout key, with that value."""
    found: dict[str, str] = {}
    for name, value in event.attributes.items():
        if name not in _NOT_KEYS and _addressable(name):
            key = _key(value)
            if key is not None:
                found[name] = key
    data = event.data
    if isinstance(data, dict):
        plain = data.get("type") == event.type
        _walk(data, "data", 1, found, _PLAIN_ENVELOPE if plain else frozenset())
    return found


def _walk(
    value: dict[str, Any], prefix: str, depth: int, found: dict[str, str], skip: frozenset[str]
) -> None:
    for name, inner in value.items():
        if name in skip or not _addressable(name):
            continue
        path = f"{prefix}.{name}"
        if isinstance(inner, dict):
            if depth < _MAX_DEPTH:
                _walk(inner, path, depth + 1, found, frozenset())
            continue
        key = _key(inner)
        if key is not None:
            found[path] = key


def _addressable(name: str) -> bool:
    # A dotted path cannot name a field whose own name has a dot or a space in it.
    return bool(name) and "." not in name and not any(c.isspace() for c in name)


def _key(value: Any) -> str | None:
    # Booleans and fractions are never rollout ids; an id may be a string or an integer.
    if isinstance(value, str):
        return value if 0 < len(value) <= _MAX_KEY_LENGTH else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


class Discovery:
    """Counts, per candidate path and value, the event types seen; then chooses paths."""

    def __init__(self) -> None:
        # path -> value -> event type -> events
        self._groups: dict[str, dict[str, dict[str, int]]] = {}
        self._seen: set[tuple[str, str]] = set()

    def add(self, event: Envelope) -> None:
        """Take one event of the sample; a repeated (source, id) is the same event."""
        if event.id is not None:
            identity = (event.source or "", event.id)
            if identity in self._seen:
                return
            self._seen.add(identity)
        for path, key in candidate_keys(event).items():
            by_type = self._groups.setdefault(path, {}).setdefault(key, {})
            by_type[event.type] = by_type.get(event.type, 0) + 1

    def choose(self) -> list[PathChoice]:
        """The paths that group events of two or more types, best first, each with its types."""
        chosen: list[PathChoice] = []
        claimed: set[str] = set()
        while True:
            ranked = sorted(
                (self._rank(path, claimed) for path in self._groups),
                key=lambda entry: entry[0],
            )
            if not ranked or ranked[0][1].score <= 0:
                return chosen
            best = ranked[0][1]
            chosen.append(best)
            claimed |= best.types

    def _rank(
        self, path: str, claimed: set[str]
    ) -> tuple[tuple[int, int, int, int, str], PathChoice]:
        score = repeats = groups = 0
        types: set[str] = set()
        for by_type in self._groups[path].values():
            free = [name for name in by_type if name not in claimed]
            if len(free) < 2:
                continue
            groups += 1
            types.update(free)
            extra = sum(by_type[name] - 1 for name in free)
            score += len(free) - extra
            repeats += extra
        choice = PathChoice(path, frozenset(types), score, groups)
        # Ties: fewer repeats; an attribute (`subject`) before a data field; shorter paths.
        order = (-score, repeats, int(path.startswith("data.")), path.count("."), path)
        return order, choice
