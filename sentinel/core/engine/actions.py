"""What on-call does to a rollout from Slack or the board (contract section 14): acknowledge,
snooze, note, abandon. Purely computational: an `Action` is plain data with one JSON form, and
`check_action` says, without changing anything, whether a rollout may take it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal

from sentinel.core.durations import format_duration
from sentinel.core.errors import SentinelError
from sentinel.core.timefmt import format_rfc3339, parse_rfc3339

# The longest snooze: a week. Longer is forgetting the rollout, which is `abandon`'s job.
LONGEST_SNOOZE_S: Final = 7 * 86400.0
# Characters of a note (and of who took an action): a sentence or a paragraph, not a file.
NOTE_CHARS: Final = 2000
BY_CHARS: Final = 200
Via = Literal["slack", "board"]
VIAS: Final[tuple[Via, ...]] = ("slack", "board")


class Verb(StrEnum):
    """What a person did; values are the JSON strings."""

    ACKNOWLEDGE = "acknowledge"  # the rollout's open problems are seen: no re-notifying
    SNOOZE = "snooze"  # its notifications wait until `until`
    NOTE = "note"  # a remark for the record, nothing else
    ABANDON = "abandon"  # called off: it closes with one `abandoned` finding


# Verbs that change what the sentinel does about an open rollout; a note may follow a close.
ONLY_OPEN: Final = frozenset({Verb.ACKNOWLEDGE, Verb.SNOOZE, Verb.ABANDON})


class ActionRefused(SentinelError):
    """An action that cannot be taken as asked; the message says what to fix."""


class UnknownRollout(ActionRefused):
    """No such rollout is held (never seen, forgotten, or held by another replica)."""


class RolloutClosed(ActionRefused):
    """The rollout is closed: only a note can still be added."""


class BadAction(ActionRefused):
    """The action itself is not valid (its snooze, its note, its verb)."""


class TooManyActions(ActionRefused):
    """The rollout holds `limits.actions_per_rollout` actions already."""


@dataclass(frozen=True, slots=True)
class Action:
    """One action on one rollout: what, by whom, when (wall clock), from where."""

    verb: Verb
    by: str  # a Slack user name or a board (basic-auth) user
    at: float  # epoch seconds, the wall clock when it was taken
    via: Via
    until: float | None = None  # a snooze's end (epoch seconds); None otherwise
    note: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The API's and the stores' form: times in RFC 3339."""
        return {
            "verb": str(self.verb),
            "by": self.by,
            "at": format_rfc3339(self.at),
            "via": self.via,
            "until": None if self.until is None else format_rfc3339(self.until),
            "note": self.note,
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> Action:
        """The action `to_json_dict` wrote; ValueError (or KeyError) when it is not one."""
        via = str(data["via"])
        if via not in VIAS:
            raise ValueError(f"an action's via is slack or board, not {via!r}")
        until = data.get("until")
        return cls(
            Verb(data["verb"]),
            str(data["by"]),
            _epoch(data["at"]),
            "slack" if via == "slack" else "board",
            None if until is None else _epoch(until),
            data.get("note"),
        )

    def describe(self) -> str:
        """`acknowledged by ana`, `snoozed by ana until 11:00:00 UTC`: the audit's words."""
        done = {
            Verb.ACKNOWLEDGE: "acknowledged",
            Verb.SNOOZE: "snoozed",
            Verb.NOTE: "noted",
            Verb.ABANDON: "abandoned",
        }[self.verb]
        until = "" if self.until is None else f" until {format_rfc3339(self.until)[:19]}Z"
        note = f": {self.note}" if self.note else ""
        return f"{done} by {self.by} via {self.via}{until}{note}"


def make_action(
    verb: str,
    by: str,
    at: float,
    via: str,
    snooze_s: float | None = None,
    note: str | None = None,
) -> Action:
    """An action from what a request asked (a snooze's length, not its end); BadAction with
    what to fix when the request is not a valid action."""
    try:
        checked = Verb(verb)
    except ValueError:
        raise BadAction(
            f"verb must be one of {', '.join(v.value for v in Verb)}, not {verb!r}"
        ) from None
    if via not in VIAS:
        raise BadAction(f"via must be slack or board, not {via!r}")
    who = by.strip()
    if not who or len(who) > BY_CHARS:
        raise BadAction(f"who took the action must be named, in at most {BY_CHARS} characters")
    until = None
    if checked is Verb.SNOOZE:
        if snooze_s is None:
            raise BadAction("a snooze needs its length: give `for`, e.g. 1h")
        if not snooze_s > 0:
            raise BadAction("a snooze must last a positive time: give `for`, e.g. 1h")
        if snooze_s > LONGEST_SNOOZE_S:
            raise BadAction(
                f"a snooze lasts at most {format_duration(LONGEST_SNOOZE_S)}, not "
                f"{format_duration(snooze_s)}: abandon the rollout to stop hearing of it"
            )
        until = at + snooze_s
    elif snooze_s is not None:
        raise BadAction(f"only a snooze takes `for`, not {checked.value}")
    text = None if note is None else note.strip()
    if checked is Verb.NOTE and not text:
        raise BadAction("a note needs its text: give `note`")
    if text is not None and len(text) > NOTE_CHARS:
        raise BadAction(f"a note is at most {NOTE_CHARS} characters, not {len(text)}: shorten it")
    when = _as_written(at)
    end = None if until is None else _as_written(until)
    return Action(checked, who, when, "slack" if via == "slack" else "board", end, text or None)


def check_action(
    action: Action,
    expectation: str,
    key: str,
    is_open: bool | None,
    held: int,
    most: int,
) -> None:
    """Raise ActionRefused when the rollout (`is_open` None: unknown) cannot take `action`
    while it holds `held` actions, at most `most`; return when it can."""
    name = f"{expectation}/{key}"
    if is_open is None:
        raise UnknownRollout(f"no rollout {name} is held: check the expectation and the key")
    if not is_open and action.verb in ONLY_OPEN:
        raise RolloutClosed(
            f"rollout {name} is closed: it cannot be {action.verb.value}d, only noted"
            if action.verb is not Verb.ABANDON
            else f"rollout {name} is closed already: only a note can be added"
        )
    if held >= most:
        raise TooManyActions(
            f"rollout {name} holds {most} actions already (limits.actions_per_rollout): "
            "raise the bound to record more"
        )


def actions_to_json(actions: tuple[Action, ...]) -> list[dict[str, Any]]:
    return [action.to_json_dict() for action in actions]


def actions_from_json(data: Any) -> tuple[Action, ...]:
    return tuple(Action.from_json_dict(item) for item in data or ())


def _as_written(epoch: float) -> float:
    """`epoch` as its RFC 3339 text reads back (to the millisecond): an action kept, sent to
    a peer or stored is equal to the one taken."""
    return parse_rfc3339(format_rfc3339(epoch))


def _epoch(value: float | str) -> float:
    return parse_rfc3339(value) if isinstance(value, str) else float(value)


@dataclass(frozen=True, slots=True)
class Requested:
    """An action asked for one rollout, waiting for the pipeline's next batch."""

    expectation: str
    key: str
    action: Action


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a requested action once its batch was kept: applied (`refused` None,
    `actions` the rollout's actions after it) or refused, changing nothing, with why."""

    requested: Requested
    refused: ActionRefused | None = None
    actions: tuple[Action, ...] = ()

    @property
    def applied(self) -> bool:
        return self.refused is None


def acknowledged_at(actions: tuple[Action, ...]) -> float | None:
    """When the rollout's problems were last acknowledged (a problem raised after it is new
    and notifies again), or None."""
    times = [action.at for action in actions if action.verb is Verb.ACKNOWLEDGE]
    return max(times) if times else None


def snoozed_until(actions: tuple[Action, ...], now: float) -> float | None:
    """The end of the rollout's snooze still running at `now` (the latest asked wins), or None."""
    ends = [action for action in actions if action.verb is Verb.SNOOZE]
    if not ends:
        return None
    latest = max(ends, key=lambda action: action.at)
    return latest.until if latest.until is not None and latest.until > now else None
