"""The status board (`GET /`): every open rollout grouped by expectation, problems first, and
the recent findings; or, with `phase=closed`, the newest closed rollouts of the history.
Server-rendered HTML that reads without script; `board.js` then keeps it live from
`/api/v1/stream`. Purely computational."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sentinel.expectations import Expectation
from sentinel.status.api import OPEN_PHASES
from sentinel.status.filters import owners
from sentinel.status.markup import (
    badge,
    esc,
    findings_list,
    page,
    rollout_href,
    rollout_row,
)
from sentinel.status.words import PROBLEMS, epoch, short_duration

RECENT_ON_BOARD = 50
# The closed view shows the newest of the history, not all of it: the API pages the rest.
CLOSED_ON_BOARD = 200
VIEWS = ("open", "closed")


@dataclass(frozen=True, slots=True)
class BoardFilters:
    """What a person narrowed the board to; every field optional."""

    expectation: str | None = None
    owner: str | None = None
    problem: bool = False
    search: str | None = None  # part of a rollout key
    phase: str = "open"  # which rollouts: open ones, or the closed ones of the history

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> BoardFilters:
        """From the board's query string; it is a page for people, so nothing here is an error."""
        phase = params.get("phase", "open")
        return cls(
            expectation=params.get("expectation") or None,
            owner=params.get("owner") or None,
            problem=params.get("problem", "").lower() in ("true", "1", "on"),
            search=params.get("q", "").strip() or None,
            phase=phase if phase in VIEWS else "open",
        )

    @property
    def closed(self) -> bool:
        return self.phase == "closed"

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
) -> str:
    """The board: `summaries` are API summaries (those of the view that `filters.phase`
    chooses are shown), `recent_findings` contract finding objects newest first; `clock` is the
    sentinel's clock (epoch seconds); `partial` names the peers that did not answer (their
    rollouts are missing, and the page says so)."""
    shown = [summary for summary in summaries if filters.admits(summary)]
    problems = [summary for summary in shown if summary["problems"]]
    body = [
        _partial(partial),
        _filter_form(expectations, filters),
        _closed_heading(len(shown)) if filters.closed else _attention(problems, clock, len(shown)),
        f'<div class="groups" id="groups" data-view="{esc(filters.phase)}">',
        *_groups(shown, expectations, filters, clock),
        "</div>",
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


def _closed_heading(shown: int) -> str:
    return (
        '<section class="attention calm" id="attention" aria-labelledby="attention-title">'
        '<h2 id="attention-title">Closed rollouts</h2>'
        f'<p class="meta">the <span class="count-shown">{shown}</span> most recently opened of '
        "the history shown; "
        '<a href="/">back to the open ones</a></p></section>'
    )


def _attention(problems: Sequence[Mapping[str, Any]], clock: float, shown: int) -> str:
    """Problems first: one line per rollout that needs someone, the longest overdue on top."""
    heading = (
        f'<h2 id="attention-title">Needs attention <span class="count">{len(problems)}'
        f'</span></h2><p class="meta"><span class="count-shown">{shown}</span> open rollout(s)'
        " shown</p>"
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
            f'<span class="why">{_why(summary, clock)}</span></li>'
        )
    return (
        '<section class="attention" id="attention" aria-labelledby="attention-title">'
        f'{heading}<ul class="attention-list">{"".join(items)}</ul></section>'
    )


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
                    f"overdue {esc(short_duration(clock - due))}</span>"
                )
            return f"{esc(step['step'])}{late}{owner}"
    if summary["phase"] == "rolling_back" and summary.get("compensation"):
        return f"waiting for {esc(summary['compensation']['step'])}"
    return "deadline passed"


def _all_steps(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [*summary["steps"], *([summary["compensation"]] if summary.get("compensation") else [])]
