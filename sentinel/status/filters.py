"""The query parameters of the rollout API, checked once (a bad one is a 400 that names it),
the filters they select with and the pages they cut. Purely computational; they work on the
API's JSON, so the same filter applies to this replica's rollouts, the history and the answers
of peers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sentinel.core.timefmt import parse_rfc3339
from sentinel.status.api_json import OPEN_PHASES
from sentinel.status.paging import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    BadCursor,
    SortKey,
    decode_cursor,
    encode_cursor,
    needs_attention,
    summary_key,
)

PHASES = ("open", "closed", "all")
# `since` is a time of years 1 to 9999 (UTC): what RFC 3339 and every peer can write again.
FIRST_TIME = -62_135_596_800.0
END_OF_TIME = 253_402_300_800.0
# More digits than this is no limit, and int() refuses 4,300 of them (a 500, issue 22).
_LIMIT_DIGITS = len(str(MAX_LIMIT))


class BadQuery(ValueError):
    """A query parameter the API does not accept; the message names it (answer 400)."""


@dataclass(frozen=True, slots=True)
class RolloutQuery:
    """The filters of `GET /api/v1/rollouts` (and of the board)."""

    expectation: str | None = None
    owner: str | None = None
    phase: str = "open"
    problem: bool = False
    limit: int = DEFAULT_LIMIT
    search: str | None = None  # `q`: a part of the rollout key, any case
    after: SortKey | None = None  # the page after this place (a decoded cursor)

    @property
    def wants_history(self) -> bool:
        """Closed rollouts are asked for: the history must be read too."""
        return self.phase != "open"


@dataclass(frozen=True, slots=True)
class FindingQuery:
    """The filters of `GET /api/v1/findings`: `since` is epoch seconds, inclusive."""

    since: float | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of `GET /api/v1/rollouts`: its rows in the order of `paging`, how many pass
    the filters in all (None when the history is part of the answer: it is not counted) and
    how many of those need someone, and the cursor of the next page (None on the last)."""

    rows: list[Mapping[str, Any]] = field(default_factory=list)
    total: int | None = 0
    with_problems: int = 0
    next: str | None = None


def parse_rollout_query(params: Mapping[str, str]) -> RolloutQuery:
    """The filters in a query string; raises BadQuery for an unknown or malformed parameter."""
    _only(params, ("expectation", "owner", "phase", "problem", "q", "limit", "after"))
    phase = params.get("phase", "open")
    if phase not in PHASES:
        raise BadQuery(f"phase must be one of {', '.join(PHASES)}, not {_shown(phase)}")
    return RolloutQuery(
        expectation=params.get("expectation") or None,
        owner=params.get("owner") or None,
        phase=phase,
        problem=_boolean(params, "problem"),
        limit=_limit(params) or DEFAULT_LIMIT,
        search=params.get("q", "").strip().lower() or None,
        after=parse_after(params.get("after")),
    )


def parse_after(text: str | None) -> SortKey | None:
    """The `after` parameter: a cursor from an answer's `next`."""
    if text is None:
        return None
    try:
        return decode_cursor(text)
    except BadCursor:
        raise BadQuery(
            f"after must be the 'next' of an earlier answer, not {_shown(text)}"
        ) from None


def parse_finding_query(params: Mapping[str, str]) -> FindingQuery:
    """The filters of `GET /api/v1/findings`; raises BadQuery like `parse_rollout_query`."""
    _only(params, ("since", "limit"))
    since = None
    if "since" in params:
        try:
            since = parse_rfc3339(params["since"])
        except ValueError:
            since = None
        if since is None or not FIRST_TIME <= since < END_OF_TIME:
            raise BadQuery(
                "since must be an RFC 3339 time of years 1 to 9999 (UTC), not "
                + _shown(params["since"])
            )
    return FindingQuery(since=since, limit=_limit(params))


def paginate(summaries: Iterable[Mapping[str, Any]], query: RolloutQuery) -> Page:
    """The page of these summaries (or full rollouts) that the query asks for, counted."""
    chosen = [summary for summary in summaries if admits(summary, query)]
    attention = sum(1 for summary in chosen if needs_attention(summary))
    return _cut([(summary_key(row), row) for row in chosen], query, len(chosen), attention)


def merge_pages(pages: Sequence[Page], query: RolloutQuery) -> Page:
    """The page of several replicas' pages of the same query: a rollout that comes twice
    (it closed while being moved) counts once, closed over open."""
    merged: dict[tuple[str, str], Mapping[str, Any]] = {}
    for page in pages:
        for row in page.rows:
            identity = (row["expectation"], row["rollout"])
            if identity not in merged or row.get("closed_at") is not None:
                merged[identity] = row
    totals = [page.total for page in pages]
    return _cut(
        [(summary_key(row), row) for row in merged.values() if admits(row, query)],
        query,
        None if None in totals else sum(total or 0 for total in totals),
        sum(page.with_problems for page in pages),
        more=any(page.next is not None for page in pages),
    )


def select_rollouts(
    summaries: Iterable[Mapping[str, Any]], query: RolloutQuery
) -> list[Mapping[str, Any]]:
    """The rows of `paginate`: the summaries that pass the filters, in the order of `paging`
    (those that need someone first, then newest opened), from `after`, at most `limit`."""
    return paginate(summaries, query).rows


def admits(summary: Mapping[str, Any], query: RolloutQuery) -> bool:
    """Whether one summary passes the filters (all of them but `limit` and `after`)."""
    return bool(
        _in_phase(summary, query.phase)
        and (query.expectation is None or summary["expectation"] == query.expectation)
        and (query.owner is None or query.owner in owners(summary))
        and (not query.problem or summary["problems"])
        and (query.search is None or query.search in summary["rollout"].lower())
    )


def _cut(
    keyed: list[tuple[SortKey, Mapping[str, Any]]],
    query: RolloutQuery,
    total: int | None,
    with_problems: int,
    more: bool = False,
) -> Page:
    keyed.sort(key=itemgetter(0))
    if query.after is not None:
        after = query.after
        keyed = [pair for pair in keyed if pair[0] > after]
    page = keyed[: query.limit]
    more = more or len(keyed) > query.limit
    cursor = encode_cursor(page[-1][0]) if more and page else None
    return Page([row for _, row in page], total, with_problems, cursor)


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
        raise BadQuery(f"unknown parameter {_shown(unknown[0])}; known: {', '.join(known)}")


def _boolean(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name, "false")
    if value not in ("true", "false"):
        raise BadQuery(f"{name} must be true or false, not {_shown(value)}")
    return value == "true"


def _limit(params: Mapping[str, str]) -> int | None:
    text = params.get("limit")
    if text is None:
        return None
    digits = text.lstrip("0") or "0"
    if (
        not (text.isascii() and text.isdigit())
        or len(digits) > _LIMIT_DIGITS
        or not 1 <= int(digits) <= MAX_LIMIT
    ):
        raise BadQuery(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {_shown(text)}")
    return int(digits)


def _shown(value: str, chars: int = 80) -> str:
    """A value as an error quotes it: cut, so that a 5,000-digit limit is not sent back whole."""
    return repr(value if len(value) <= chars else value[:chars] + "…")
