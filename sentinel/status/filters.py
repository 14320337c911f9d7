"""The query parameters of the rollout API, checked once (a bad one is a 400 that names it),
and the filters they select with. Purely computational; they work on the API's JSON, so the
same filter applies to this replica's rollouts, the history and the answers of peers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sentinel.status.api import OPEN_PHASES
from sentinel.timefmt import parse_rfc3339

PHASES = ("open", "closed", "all")
MAX_LIMIT = 10_000


class BadQuery(ValueError):
    """A query parameter the API does not accept; the message names it (answer 400)."""


@dataclass(frozen=True, slots=True)
class RolloutQuery:
    """The filters of `GET /api/v1/rollouts` (and of the board)."""

    expectation: str | None = None
    owner: str | None = None
    phase: str = "open"
    problem: bool = False
    limit: int | None = None

    @property
    def wants_history(self) -> bool:
        """Closed rollouts are asked for: the history must be read too."""
        return self.phase != "open"


@dataclass(frozen=True, slots=True)
class FindingQuery:
    """The filters of `GET /api/v1/findings`: `since` is epoch seconds, inclusive."""

    since: float | None = None
    limit: int | None = None


def parse_rollout_query(params: Mapping[str, str]) -> RolloutQuery:
    """The filters in a query string; raises BadQuery for an unknown or malformed parameter."""
    _only(params, ("expectation", "owner", "phase", "problem", "limit"))
    phase = params.get("phase", "open")
    if phase not in PHASES:
        raise BadQuery(f"phase must be one of {', '.join(PHASES)}, not {phase!r}")
    return RolloutQuery(
        expectation=params.get("expectation") or None,
        owner=params.get("owner") or None,
        phase=phase,
        problem=_boolean(params, "problem"),
        limit=_limit(params),
    )


def parse_finding_query(params: Mapping[str, str]) -> FindingQuery:
    """The filters of `GET /api/v1/findings`; raises BadQuery like `parse_rollout_query`."""
    _only(params, ("since", "limit"))
    since = None
    if "since" in params:
        try:
            since = parse_rfc3339(params["since"])
        except ValueError:
            raise BadQuery(f"since must be an RFC 3339 time, not {params['since']!r}") from None
    return FindingQuery(since=since, limit=_limit(params))


def select_rollouts(
    summaries: Iterable[Mapping[str, Any]], query: RolloutQuery
) -> list[Mapping[str, Any]]:
    """The summaries (or full rollouts) that pass the filters, newest opened first (then by
    expectation and key), at most `limit`."""
    chosen = [summary for summary in summaries if admits(summary, query)]
    chosen.sort(key=lambda summary: (summary["expectation"], summary["rollout"]))
    chosen.sort(key=lambda summary: parse_rfc3339(summary["opened_at"]), reverse=True)
    return chosen if query.limit is None else chosen[: query.limit]


def admits(summary: Mapping[str, Any], query: RolloutQuery) -> bool:
    """Whether one summary passes the filters (all of them but `limit`)."""
    return bool(
        _in_phase(summary, query.phase)
        and (query.expectation is None or summary["expectation"] == query.expectation)
        and (query.owner is None or query.owner in owners(summary))
        and (not query.problem or summary["problems"])
    )


def select_findings(
    findings: Iterable[Mapping[str, Any]], query: FindingQuery
) -> list[Mapping[str, Any]]:
    """Contract finding objects raised at or after `since`, newest first, at most `limit`."""
    timed = [(parse_rfc3339(finding["at"]), finding) for finding in findings]
    if query.since is not None:
        timed = [(at, finding) for at, finding in timed if at >= query.since]
    timed.sort(key=lambda pair: pair[0], reverse=True)
    chosen = [finding for _, finding in timed]
    return chosen if query.limit is None else chosen[: query.limit]


def owners(summary: Mapping[str, Any]) -> set[str]:
    """Everyone a rollout concerns: its owner and the owner of each of its steps."""
    found = {summary["owner"]} | {step["owner"] for step in summary["steps"]}
    if summary.get("compensation"):
        found.add(summary["compensation"]["owner"])
    return {owner for owner in found if owner}


def _in_phase(summary: Mapping[str, Any], phase: str) -> bool:
    if phase == "all":
        return True
    is_open = summary["phase"] in OPEN_PHASES
    return is_open if phase == "open" else not is_open


def _only(params: Mapping[str, str], known: tuple[str, ...]) -> None:
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise BadQuery(f"unknown parameter {unknown[0]!r}; known: {', '.join(known)}")


def _boolean(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name, "false")
    if value not in ("true", "false"):
        raise BadQuery(f"{name} must be true or false, not {value!r}")
    return value == "true"


def _limit(params: Mapping[str, str]) -> int | None:
    text = params.get("limit")
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise BadQuery(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {text!r}")
    return int(text)
