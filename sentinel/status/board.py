"""The status board (`GET /`): a page of the open rollouts (those that need someone first)
grouped by expectation, how many there are in all and the link to the next page, and the
recent findings; or, with `phase=closed`, pages of the closed rollouts of the history.
Server-rendered HTML that reads without script; `board.js` then keeps it live from
`/api/v1/stream`. Purely computational."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sentinel.core.rules.expectations import Expectation
from sentinel.status.api_json import OPEN_PHASES
from sentinel.status.board_words import PROBLEMS, epoch, overdue_text
from sentinel.status.filters import Page, RolloutQuery, owners
from sentinel.status.markup import (
    acted,
    badge,
    esc,
    findings_list,
    page,
    rollout_href,
    rollout_row,
)
from sentinel.status.paging import DEFAULT_LIMIT, BadCursor, decode_cursor, needs_attention

RECENT_ON_BOARD = 50
# Rows on one page of the board at most (`limit`); the default is the API's, DEFAULT_LIMIT.
BOARD_MAX_LIMIT = 500
VIEWS = ("open", "closed")


@dataclass(frozen=True, slots=True)
class BoardFilters:
    """What a person narrowed the board to; every field optional."""

    expectation: str | None = None
    owner: str | None = None
    problem: bool = False
    search: str | None = None  # part of a rollout key
    phase: str = "open"  # which rollouts: open ones, or the closed ones of the history
    after: str | None = None  # the page after this cursor (an API `next`)
    limit: int = DEFAULT_LIMIT

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> BoardFilters:
        """From the board's query string; it is a page for people, so nothing here is an
        error: what cannot be read is left out (the first page, the default size)."""
        phase = params.get("phase", "open")
        after = params.get("after") or None
        try:
            if after is not None:
                decode_cursor(after)
        except BadCursor:
            after = None
        limit = params.get("limit", "")
        size = int(limit) if limit.isascii() and limit.isdigit() and len(limit) <= 4 else 0
        return cls(
            expectation=params.get("expectation") or None,
            owner=params.get("owner") or None,
            problem=params.get("problem", "").lower() in ("true", "1", "on"),
            search=params.get("q", "").strip() or None,
            phase=phase if phase in VIEWS else "open",
            after=after,
            limit=min(size, BOARD_MAX_LIMIT) or DEFAULT_LIMIT,
        )

    @property
    def closed(self) -> bool:
        return self.phase == "closed"

    def query(self) -> RolloutQuery:
        """The API question of this board page."""
        return RolloutQuery(
            expectation=self.expectation,
            owner=self.owner,
            phase=self.phase,
            problem=self.problem,
            limit=self.limit,
            search=self.search.lower() if self.search else None,
            after=None if self.after is None else decode_cursor(self.after),
        )

    def href(self, after: str | None) -> str:
        """This board with the same filters, from the page after `after` (None: the first)."""
        params = {
            "phase": self.phase if self.closed else None,
            "expectation": self.expectation,
            "owner": self.owner,
            "q": self.search,
            "problem": "true" if self.problem else None,
            "limit": None if self.limit == DEFAULT_LIMIT else str(self.limit),
            "after": after,
        }
        return "/?" + urlencode({name: value for name, value in params.items() if value})

    def admits(self, summary: Mapping[str, Any]) -> bool:
        return (
            (summary["phase"] in OPEN_PHASES) != self.closed
            and (self.expectation is None or summary["expectation"] == self.expectation)
            and (self.owner is None or self.owner in owners(summary))
            and (not self.problem or bool(summary["problems"]))
            and (self.search is None or self.search.lower() in summary["rollout"].lower())
        )


def render_board(
    summaries: Iterable[Mapping[str, Any]],
    recent_findings: Sequence[Mapping[str, Any]],
    expectations: Sequence[Expectation],
    clock: float,
    filters: BoardFilters,
    partial: Sequence[str] = (),
    listing: Page | None = None,
) -> str:
    """The board: `summaries` are API summaries (those of the view that `filters.phase`
    chooses are shown), `recent_findings` contract finding objects newest first; `clock` is the
    sentinel's clock (epoch seconds); `partial` names the peers that did not answer (their
    rollouts are missing, and the page says so); `listing` says how many there are in all and
    where the next page starts (without it, `summaries` are all there are)."""
    shown = [summary for summary in summaries if filters.admits(summary)]
    problems = [summary for summary in shown if summary["problems"]]
    if listing is None:
        attention = sum(1 for summary in shown if needs_attention(summary))
        listing = Page(shown, len(shown), attention)
    heading = (
        _closed_heading(len(shown), filters, listing)
        if filters.closed
        else _attention(problems, clock, len(shown), filters, listing)
    )
    body = [
        _partial(partial),
        _filter_form(expectations, filters),
        heading,
        f'<div class="groups" id="groups" data-view="{esc(filters.phase)}"'
        f' data-after="{esc(filters.after or "")}" data-limit="{filters.limit}"'
        f' data-q="{esc(filters.search or "")}">',
        *_groups(shown, expectations, filters, clock),
        "</div>",
        _pager(filters, listing),
        '<section class="recent" aria-labelledby="recent-title">'
        '<h2 id="recent-title">Recent findings</h2>',
        findings_list(recent_findings[:RECENT_ON_BOARD], clock),
        "</section>",
    ]
    return page("Rollout sentinel", "\n".join(body), clock, "board")


def _partial(peers: Sequence[str]) -> str:
    if not peers:
        return ""
    names = ", ".join(esc(peer) for peer in peers)
    return (
        '<p class="partial" role="alert"><span aria-hidden="true">✕</span> Not answering: '
        f"{names}. The rollouts they own are missing from this page.</p>"
    )


def _filter_form(expectations: Sequence[Expectation], filters: BoardFilters) -> str:
    names = [exp.name for exp in expectations]
    people = sorted(
        {exp.owner for exp in expectations if exp.owner}
        | {exp.owner_of(step.event) or "" for exp in expectations for step in exp.steps} - {""}
    )
    checked = " checked" if filters.problem else ""
    views = "".join(
        f'<option value="{view}"{" selected" if view == filters.phase else ""}>{view}</option>'
        for view in VIEWS
    )
    return (
        '<form class="filters" id="filters" method="get" action="/" role="search">'
        f'<label>Rollouts <select name="phase">{views}</select></label>'
        f"{_select('expectation', 'Expectation', names, filters.expectation)}"
        f"{_select('owner', 'Owner', people, filters.owner)}"
        '<label class="search">Rollout key '
        f'<input type="search" name="q" id="search" value="{esc(filters.search)}"'
        ' placeholder="part of a key" autocomplete="off"></label>'
        f'<label class="check"><input type="checkbox" name="problem" value="true"{checked}>'
        " problems only</label>"
        '<button type="submit">Apply</button>'
        '<a class="reset" href="/">Clear</a>'
        "</form>"
    )


def _select(name: str, label: str, options: Sequence[str], chosen: str | None) -> str:
    items = ['<option value="">all</option>']
    for option in options:
        selected = " selected" if option == chosen else ""
        items.append(f'<option value="{esc(option)}"{selected}>{esc(option)}</option>')
    return f'<label>{esc(label)} <select name="{esc(name)}">{"".join(items)}</select></label>'


def _closed_heading(shown: int, filters: BoardFilters, listing: Page) -> str:
    which = "the most recently opened" if filters.after is None else "older ones"
    return (
        '<section class="attention calm" id="attention" aria-labelledby="attention-title">'
        '<h2 id="attention-title">Closed rollouts</h2>'
        f'<p class="meta"><span class="count-shown">{shown}</span> of {which} of the history '
        f"shown{_next_link(filters, listing)}; "
        '<a href="/">back to the open ones</a></p></section>'
    )


def _attention(
    problems: Sequence[Mapping[str, Any]],
    clock: float,
    shown: int,
    filters: BoardFilters,
    listing: Page,
) -> str:
    """Problems first: one line per rollout that needs someone, the longest overdue on top;
    and how many rollouts there are in all, of which this page shows some."""
    total = (
        "" if listing.total is None else f' of <span class="count-total">{listing.total:,}</span>'
    )
    beyond = listing.with_problems - len(problems)
    more = f" ({beyond:,} more on the next pages)" if beyond > 0 else ""
    heading = (
        f'<h2 id="attention-title">Needs attention <span class="count">{len(problems)}'
        f'</span></h2><p class="meta"><span class="count-shown">{shown}</span>{total} open'
        f" rollout(s) shown, {listing.with_problems:,} with problems{more}"
        f"{_next_link(filters, listing)}</p>"
    )
    if not problems:
        return (
            '<section class="attention calm" id="attention" aria-labelledby="attention-title">'
            f'{heading}<p class="ok"><span aria-hidden="true">✓</span>'
            " Nothing is stalled, late or rolling back.</p></section>"
        )
    items = []
    for summary in sorted(problems, key=lambda summary: _overdue(summary, clock), reverse=True):
        href = rollout_href(summary["expectation"], summary["rollout"])
        kinds = "".join(badge("problem", PROBLEMS, kind) for kind in summary["problems"])
        items.append(
            f'<li data-expectation="{esc(summary["expectation"])}"'
            f' data-rollout="{esc(summary["rollout"])}">'
            f'<a href="{esc(href)}">{esc(summary["expectation"])} / '
            f'<span class="key">{esc(summary["rollout"])}</span></a>{kinds}'
            f"{acted(summary, clock)}"
            f'<span class="why">{_why(summary, clock)}</span></li>'
        )
    return (
        '<section class="attention" id="attention" aria-labelledby="attention-title">'
        f'{heading}<ul class="attention-list">{"".join(items)}</ul></section>'
    )


def _next_link(filters: BoardFilters, listing: Page) -> str:
    if listing.next is None:
        return ""
    return f'; <a href="{esc(filters.href(listing.next))}" rel="next">next page</a>'


def _pager(filters: BoardFilters, listing: Page) -> str:
    """Below the rows: the next page, and the first when this is not it."""
    links = []
    if filters.after is not None:
        links.append(f'<a href="{esc(filters.href(None))}" rel="first">⇤ First page</a>')
    if listing.next is not None:
        links.append(
            f'<a href="{esc(filters.href(listing.next))}" rel="next">Next {filters.query().limit}'
            " rollouts ⇥</a>"
        )
    if not links:
        return ""
    return f'<nav class="pager" aria-label="Pages of rollouts">{" · ".join(links)}</nav>'


def _groups(
    shown: Sequence[Mapping[str, Any]],
    expectations: Sequence[Expectation],
    filters: BoardFilters,
    clock: float,
) -> list[str]:
    by_name: dict[str, list[Mapping[str, Any]]] = {}
    for summary in shown:
        by_name.setdefault(summary["expectation"], []).append(summary)
    known = [exp.name for exp in expectations]
    # Expectations that were removed while a peer still reports their rollouts come last.
    names = [name for name in known if name in by_name or filters.expectation in (None, name)]
    names += sorted(set(by_name) - set(known))
    described = {exp.name: exp for exp in expectations}
    sections = []
    for name in names:
        rows = sorted(
            by_name.get(name, []),
            key=lambda summary: (not summary["problems"], -(epoch(summary["opened_at"]) or 0)),
        )
        exp = described.get(name)
        meta = []
        if exp is not None and exp.owner:
            meta.append(f"owner {esc(exp.owner)}")
        if exp is not None and exp.description:
            meta.append(esc(exp.description))
        problem_count = sum(1 for row in rows if row["problems"])
        # board.js keeps the counts right as rows come and go.
        if filters.closed:
            meta.append(f'<span class="counts">{len(rows)} closed</span>')
        else:
            meta.append(
                f'<span class="counts">{len(rows)} open, {problem_count} with problems</span>'
            )
        body = "".join(rollout_row(row, clock) for row in rows)
        empty = "" if rows else f'<p class="empty">No {esc(filters.phase)} rollout.</p>'
        sections.append(
            f'<section class="group" data-expectation="{esc(name)}">'
            f'<h2>{esc(name)}</h2><p class="meta">{" · ".join(meta)}</p>'
            f'<div class="rollouts">{body}</div>{empty}</section>'
        )
    if not sections:
        sections.append('<p class="empty">No expectation matches these filters.</p>')
    return sections


def _overdue(summary: Mapping[str, Any], clock: float) -> float:
    dues = [
        clock - (epoch(step["due"]) or clock)
        for step in _all_steps(summary)
        if step["state"] == "stalled"
    ]
    return max(dues, default=0.0)


def _why(summary: Mapping[str, Any], clock: float) -> str:
    """Why it needs someone, as markup: a stalled step's "overdue" ticks (board.js)."""
    for step in _all_steps(summary):
        if step["state"] == "stalled":
            owner = f", {esc(step['owner'])}" if step["owner"] else ""
            due = epoch(step["due"])
            late = " stalled"
            if due is not None:
                late = (
                    f' <span data-tick="stalled" data-due="{esc(step["due"])}">'
                    f"{esc(overdue_text(step['due'], clock))}</span>"
                )
            return f"{esc(step['step'])}{late}{owner}"
    if summary["phase"] == "rolling_back" and summary.get("compensation"):
        return f"waiting for {esc(summary['compensation']['step'])}"
    return "deadline passed"


def _all_steps(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [*summary["steps"], *([summary["compensation"]] if summary.get("compensation") else [])]
