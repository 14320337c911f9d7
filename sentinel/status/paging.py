"""The one order of rollout lists and the cursor of their pages (issue 22), so that this
replica's engine, its history and every peer's answer page the same way. Purely computational.

The order: rollouts that need someone first (open or rolling back with an open problem), then
newest opened first, then by expectation and key. A rollout's place is its `SortKey`; a cursor
is the key of the last rollout of a page, and the next page is every rollout after it.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

from sentinel.core.engine.rollout import RolloutState
from sentinel.core.engine.snapshots import Phase
from sentinel.core.rules.expectations import Expectation
from sentinel.status.api_json import OPEN_PHASES

# (0 when it needs someone else 1, minus its opening in whole milliseconds, expectation, key).
SortKey = tuple[int, int, str, str]

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
# Rollouts found for a page are compared with the best held at least this many at a time.
MERGE_AT = 256
# Closed rollouts are paged from the newest this many entries of the history (of the
# expectation asked for): a question reads no more of it. Older ones: `sentinel report`.
HISTORY_WINDOW = 10_000
# A cursor holds a key of a rollout: a key from the bus may be long, but a URL is not longer
# (aiohttp refuses a request line past 8,190 bytes).
MAX_CURSOR_CHARS = 8_192
_CURSOR_MS = re.compile(r"-?[0-9]{1,20}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


class BadCursor(ValueError):
    """Not a cursor this API wrote."""


def epoch_ms(epoch: float) -> int:
    """The whole milliseconds of `epoch` as `format_rfc3339` writes them: datetime rounds to
    microseconds (half to even), the text keeps the milliseconds of that. Cheap: a board
    computes it for every open rollout."""
    fraction, whole = math.modf(epoch)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    elif micros < 0:
        whole, micros = whole - 1, micros + 1_000_000
    return int(whole) * 1000 + micros // 1000


def text_ms(text: str) -> int:
    """The whole milliseconds of an RFC 3339 time (as the API writes them), exactly."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MILLISECOND


def needs_attention(summary: Mapping[str, Any]) -> bool:
    """An open problem of a rollout still open: what the board lists first."""
    return bool(summary["problems"]) and summary["phase"] in OPEN_PHASES


def summary_key(summary: Mapping[str, Any]) -> SortKey:
    """The place of an API summary (or full rollout) in the order."""
    return (
        0 if needs_attention(summary) else 1,
        -text_ms(summary["opened_at"]),
        summary["expectation"],
        summary["rollout"],
    )


class OpenRollouts:
    """The order's questions about one expectation's rollouts asked of their state alone, so
    that a page is chosen out of many without a view of each (`views.RolloutView`)."""

    def __init__(self, exp: Expectation) -> None:
        self.name = exp.name
        self.steps = frozenset(step.event for step in exp.steps)
        self.owes_deadline = exp.deadline is not None
        # Who a summary names: the rollout's owner, each step's and the compensation's.
        self.owners = {exp.owner} | {exp.owner_of(step.event) for step in exp.steps}
        self.owners.discard(None)

    def needs_attention(self, state: RolloutState) -> bool:
        """Whether `api.open_problems` of its view would name a problem (an open one)."""
        if state.phase is Phase.ROLLING_BACK:
            return True
        if state.phase is not Phase.OPEN:
            return False
        if self.owes_deadline and state.deadline_at is None:
            return True  # the deadline fired (views.deadline_exceeded)
        return bool(state.stalled) and self.stalled_now(state)

    def stalled_now(self, state: RolloutState) -> bool:
        """A step of it stalled and is still not seen."""
        seen, steps = state.seen, self.steps
        return any(name not in seen and name in steps for name in state.stalled)

    def key(self, state: RolloutState, attention: bool) -> SortKey:
        return (0 if attention else 1, -epoch_ms(state.opened_at), self.name, state.key)


class OpenChoice:
    """The first `wanted` open rollouts after `after` that pass the filters of their state,
    and how many pass them in all, chosen a chunk at a time (issue 22). Most rollouts cost a
    few comparisons: once `wanted` are held, one opened before the last of them (in its part
    of the order) cannot enter and gets no key; fed newest first, nearly all are such."""

    def __init__(
        self,
        wanted: int,
        problem: bool = False,
        search: str | None = None,
        after: SortKey | None = None,
        merge_at: int = MERGE_AT,
    ) -> None:
        self.wanted, self.problem, self.search, self.after = wanted, problem, search, after
        self.merge_at = max(wanted, merge_at)
        self.total = 0
        self.with_problems = 0
        self._held: list[tuple[SortKey, RolloutState]] = []  # the best, in order
        self._found: list[tuple[SortKey, RolloutState]] = []  # not compared with them yet
        # Which may enter, by part (needs someone, or not): opened from the floor to the
        # ceiling (epoch seconds, a millisecond wide of the keys' whole milliseconds: float
        # error), or none (None).
        self._urgent: tuple[float, float] | None = (-math.inf, math.inf)
        self._calm: tuple[float, float] | None = (-math.inf, math.inf)
        if after is not None and after[0] == 1:
            self._urgent = None  # they all come before the cursor
            self._calm = (-math.inf, (2 - after[1]) / 1000)  # newer ones too

    def add(self, rollouts: OpenRollouts, states: Iterable[RolloutState]) -> None:
        """Look at these rollouts of one expectation."""
        found, after, search = self._found, self.after, self.search
        owes = rollouts.owes_deadline
        for state in states:
            phase = state.phase
            if phase is Phase.OPEN:
                problem = bool(
                    (owes and state.deadline_at is None)
                    or (state.stalled and rollouts.stalled_now(state))
                )
            elif phase is Phase.ROLLING_BACK:
                problem = True
            else:
                continue
            if (self.problem and not problem) or (
                search is not None and search not in state.key.lower()
            ):
                continue
            self.total += 1
            self.with_problems += problem
            enters = self._urgent if problem else self._calm
            if enters is None or not enters[0] <= state.opened_at <= enters[1]:
                continue
            key = rollouts.key(state, problem)
            if after is None or key > after:
                found.append((key, state))
        if len(found) >= self.merge_at:
            self._merge()

    def chosen(self) -> list[tuple[SortKey, RolloutState]]:
        """The first `wanted` (fewer when fewer pass), in order."""
        self._merge()
        return self._held

    def _merge(self) -> None:
        if not self._found:
            return
        self._held += self._found
        self._found = []
        self._held.sort(key=itemgetter(0))
        del self._held[self.wanted :]
        if len(self._held) == self.wanted:
            last = self._held[-1][0]
            floor = (-last[1] - 1) / 1000
            if last[0] == 0:
                self._calm = None
                self._urgent = (floor, self._urgent[1]) if self._urgent else None
            elif self._calm is not None:
                self._calm = (floor, self._calm[1])


def encode_cursor(key: SortKey) -> str:
    """The `next` of an answer: the key of its last rollout as
    `<0|1>.<opened, ms>.<expectation>.<key>`, names in unpadded base64url."""
    attention, minus_opened, expectation, rollout = key
    return f"{attention}.{-minus_opened}.{_b64(expectation)}.{_b64(rollout)}"


def decode_cursor(text: str) -> SortKey:
    """The key `encode_cursor` wrote. Any text of that shape is a place in the order, even one
    no rollout has (names that are not UTF-8 are read with U+FFFD); BadCursor otherwise."""
    parts = text.split(".") if len(text) <= MAX_CURSOR_CHARS else []
    if not (
        len(parts) == 4
        and parts[0] in ("0", "1")
        and _CURSOR_MS.fullmatch(parts[1])
        and all(_BASE64URL.fullmatch(name) for name in parts[2:])
    ):
        raise BadCursor(text)
    return int(parts[0]), -int(parts[1]), _unb64(parts[2]), _unb64(parts[3])


def _b64(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    usable = text[: len(text) - 1] if len(text) % 4 == 1 else text  # 6 bits: not a byte
    raw = base64.urlsafe_b64decode(usable + "=" * (-len(usable) % 4))
    return raw.decode(errors="replace")
