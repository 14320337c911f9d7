"""Forgetting what is older than a horizon, from dicts kept in insertion (clock) order."""

from __future__ import annotations

from typing import TypeVar

Key = TypeVar("Key")


def forget_before(times: dict[Key, float], horizon: float) -> int:
    """Delete the leading entries whose time is before `horizon`; how many went.

    Insertion order is clock order, so the first entry not before the horizon ends it. One
    pass, then the deletions: deleting the first entry and asking `next(iter())` again walks
    every slot deleted before it, quadratic in what is forgotten (a million event ids falling
    out of the retention at once took minutes).
    """
    expired = []
    for key, at in times.items():
        if at >= horizon:
            break
        expired.append(key)
    for key in expired:
        del times[key]
    return len(expired)
