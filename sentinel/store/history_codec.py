"""The byte form of a history entry, for every store that keeps or sends the history.

An entry is the closed rollout's state in the store's own byte form (`codec.dump_body`, the
bytes its row was just written with) beside the shape of the expectation it closed under:
made without rendering anything, and the view people read is made from them when read. Entries
written before kept the rendered view; they are read as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from sentinel.core.engine.findings import Finding
from sentinel.core.engine.snapshots import view_from_json, view_to_json
from sentinel.core.errors import StoreError
from sentinel.core.events.records import Partition
from sentinel.core.ports.history import ClosedRollout, closed_rollout, closed_with_view
from sentinel.core.rules.expectations import Compensation, Expectation, Step
from sentinel.store.codec import dump_body, rollout_from_fields

# An expectation's shape, by the object: made once per expectation loaded, not per entry.
_SHAPES: Final[dict[int, tuple[Expectation, bytes]]] = {}


def entry_bytes(entry: ClosedRollout, body: bytes | None = None) -> bytes:
    """The entry's bytes, made once; `body`: its state's `dump_body`, when at hand already."""
    stored = entry.stored
    if stored is not None:
        return stored
    rollout, expectation = entry.rollout, entry.expectation
    home = None if entry.home is None else [entry.home.topic, entry.home.number]
    if rollout is None or expectation is None:  # read as an older entry: written as it was
        stored = orjson.dumps(
            {
                "view": view_to_json(entry.view),
                "findings": [finding.json_object() for finding in entry.findings],
                "home": home,
            }
        )
    else:
        stored = orjson.dumps(
            {
                "expectation": orjson.Fragment(_shape(expectation)),
                "rollout": rollout.key,
                "phase": str(rollout.phase),
                "closed_at": rollout.closed_at,
                "state": orjson.Fragment(dump_body(rollout) if body is None else body),
                "home": home,
            }
        )
    entry.stored = stored
    return stored


def load_entry(data: bytes) -> ClosedRollout:
    """The entry `entry_bytes` wrote (or an older one); StoreError when the bytes are not one."""
    try:
        fields = orjson.loads(data)
        if not isinstance(fields, dict):
            raise TypeError("not a JSON object")
        home = fields.get("home")
        partition = None if home is None else Partition(home[0], home[1])
        if "view" in fields:
            entry = closed_with_view(
                view_from_json(fields["view"]),
                tuple(Finding.from_json_dict(finding) for finding in fields["findings"]),
                partition,
            )
        else:
            expectation = _expectation(fields["expectation"])
            rollout = rollout_from_fields(
                expectation.name,
                fields["rollout"],
                fields["phase"],
                fields["closed_at"],
                fields["state"],
            )
            entry = closed_rollout(rollout, expectation, partition)
    except (orjson.JSONDecodeError, TypeError, ValueError, KeyError, IndexError) as error:
        raise StoreError(f"a history entry is damaged ({error!r})") from None
    entry.stored = data
    return entry


def _shape(expectation: Expectation) -> bytes:
    """What a view needs of an expectation: names, owners, order and windows."""
    known = _SHAPES.get(id(expectation))
    if known is not None and known[0] is expectation:
        return known[1]
    shape = orjson.dumps(
        {
            "name": expectation.name,
            "correlate": expectation.correlate,
            "owner": expectation.owner,
            "deadline": expectation.deadline,
            "steps": [[s.event, s.after, s.within, s.owner] for s in expectation.steps],
            "compensation": [[c.trigger, c.expect, c.within] for c in expectation.compensation],
        }
    )
    if len(_SHAPES) >= 1024:  # expectations reloaded many times: a bound, not a policy
        _SHAPES.clear()
    _SHAPES[id(expectation)] = (expectation, shape)
    return shape


def _expectation(shape: Mapping[str, Any]) -> Expectation:
    return Expectation(
        name=shape["name"],
        correlate=shape["correlate"],
        steps=tuple(
            Step(event, tuple(after), within, owner)
            for event, after, within, owner in shape["steps"]
        ),
        owner=shape["owner"],
        deadline=shape["deadline"],
        compensation=tuple(
            Compensation(trigger, expect, within)
            for trigger, expect, within in shape["compensation"]
        ),
    )
