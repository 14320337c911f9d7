"""What the history keeps of a closed rollout (contract section 11): its last view and its
findings, in one byte form that every store writes and the rollout API and reports read."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from sentinel.core.engine.findings import Finding
from sentinel.core.engine.ports import EngineChanges
from sentinel.core.engine.snapshots import RolloutView, view_from_json, view_to_json
from sentinel.core.errors import StoreError
from sentinel.core.events.records import Partition

DEFAULT_HISTORY_RETENTION_S = 400 * 86400.0
# A rollout's view as of now (Engine.view), or None when it is unknown.
ViewOf = Callable[[str, str], RolloutView | None]


# One per closed rollout. Not frozen, and an `__init__` of its own, as Finding: a frozen
# dataclass's generated `__init__` is interpreted. Never changed once built all the same.
@dataclass(slots=True, init=False)
class ClosedRollout:
    """A rollout as it closed: the view frozen with the expectation of that moment."""

    view: RolloutView
    findings: tuple[Finding, ...]
    home: Partition | None  # the partition that owned it (changelog mode)
    # The bytes, once made: the local history and, in changelog mode, the history topic each
    # write them.
    _body: bytes | None = field(default=None, repr=False, compare=False)

    def __init__(
        self, view: RolloutView, findings: tuple[Finding, ...], home: Partition | None = None
    ) -> None:
        self.view = view
        self.findings = findings
        self.home = home
        self._body = None

    @property
    def identity(self) -> tuple[str, str]:
        return self.view.expectation, self.view.rollout

    def dump(self) -> bytes:
        body = self._body
        if body is None:
            body = self._body = self._dumped()
        return body

    def _dumped(self) -> bytes:
        return orjson.dumps(
            {
                "view": view_to_json(self.view),
                "findings": [finding.json_object() for finding in self.findings],
                "home": None if self.home is None else list(self.home),
            }
        )


def load_closed(body: bytes) -> ClosedRollout:
    """The entry `ClosedRollout.dump` wrote; StoreError when the bytes are not one."""
    try:
        data: Mapping[str, Any] = orjson.loads(body)
        home = data.get("home")
        return ClosedRollout(
            view_from_json(data["view"]),
            tuple(Finding.from_json_dict(finding) for finding in data["findings"]),
            None if home is None else Partition(home[0], home[1]),
        )
    except (orjson.JSONDecodeError, TypeError, ValueError, KeyError, IndexError) as error:
        raise StoreError(f"a history entry is damaged ({error!r})") from None


def closed_in(changes: EngineChanges, view: ViewOf) -> list[ClosedRollout]:
    """The rollouts that closed in the batch of `changes` (a closed rollout changes no more)."""
    closed = []
    for (name, key), rollout in changes.rollouts.items():
        if rollout is not None and rollout.closed_at is not None:
            seen = view(name, key)
            if seen is not None:
                closed.append(ClosedRollout(seen, rollout.findings, rollout.home))
    return closed
