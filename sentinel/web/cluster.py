"""Every replica's answer as one: this replica's, and its peers' (asked at the same time),
merged and filtered again. A question from a peer (`local`) is answered for this replica only.
Each method returns the answer and `partial`: the peers that did not answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import orjson

from sentinel.core.engine.actions import (
    Action,
    ActionRefused,
    BadAction,
    Outcome,
    Requested,
    RolloutClosed,
    TooManyActions,
    UnknownRollout,
    actions_from_json,
)
from sentinel.core.timefmt import format_rfc3339, parse_rfc3339
from sentinel.status.filters import (
    FindingQuery,
    Page,
    RolloutQuery,
    merge_pages,
    select_findings,
)
from sentinel.status.paging import encode_cursor
from sentinel.web.local import Replica
from sentinel.web.peers import Answers, Peers

Rows = list[Mapping[str, Any]]
# Where a replica forwards an action it does not hold to its peers (LOCAL_HEADER and a peer
# token: sentinel.web.api); only the rollout's owner takes it, the others answer 404.
PEER_ACTIONS_PATH = "/api/v1/internal/actions"
# The status an action's refusal is answered with, here and by a peer.
REFUSED_STATUS: dict[type[ActionRefused], int] = {
    UnknownRollout: 404,
    RolloutClosed: 409,
    TooManyActions: 409,
    BadAction: 400,
}


class Cluster:
    """This replica and its peers (none without `http.peers`)."""

    def __init__(self, replica: Replica, peers: Peers) -> None:
        self.replica = replica
        self.peers = peers

    async def rollouts(self, query: RolloutQuery, local: bool) -> tuple[Page, list[str]]:
        """The page the query asks for, of every replica: each is asked for the same page
        (from the same cursor) and the pages are merged and cut again."""
        if local:
            return await self.replica.rollouts(query), []
        mine, answers = await asyncio.gather(
            self.replica.rollouts(query), self.peers.ask("/api/v1/rollouts", _params(query))
        )
        if not answers.bodies and not answers.partial:
            return mine, []  # no peers
        theirs = _pages(answers)
        return merge_pages([mine, *theirs], query), answers.partial

    async def rollout(
        self, expectation: str, key: str, local: bool
    ) -> tuple[Mapping[str, Any] | None, list[str]]:
        found = await self.replica.rollout(expectation, key)
        if found is not None or local:
            return found, []
        path = f"/api/v1/rollouts/{quote(expectation, safe='')}/{quote(key, safe='')}"
        answers = await self.peers.ask(path)
        for body in answers.ok():
            if isinstance(body, dict) and isinstance(body.get("steps"), list):
                return body, []
        return None, answers.partial

    async def act(
        self,
        expectation: str,
        key: str,
        action: Action,
        local: bool,
        peer_headers: Mapping[str, str] | None = None,
    ) -> tuple[Outcome, list[str]]:
        """Take an on-call action where the rollout lives (contract section 14): here when
        this replica holds it (or a peer forwarded it), else forwarded to every peer with
        `peer_headers`, where only its owner takes it. A rollout held nowhere is unknown, or
        closed when the history has it."""
        asked = Requested(expectation, key, action)
        if local or self.replica.holds(expectation, key):
            return await self.replica.act(expectation, key, action), []
        body = orjson.dumps(
            {"expectation": expectation, "rollout": key, "action": action.to_json_dict()}
        )
        answers = await self.peers.post(PEER_ACTIONS_PATH, body, peer_headers)
        for address, status, answer in answers.bodies:
            if status == 404:
                continue
            outcome = _peer_outcome(asked, status, answer)
            if outcome is None:
                answers.partial.append(address)
                continue
            return outcome, []
        found = await self.replica.rollout(expectation, key)
        if found is not None:  # in the history: closed and forgotten by every engine
            why = f"rollout {expectation}/{key} is closed: it takes no more actions"
            return Outcome(asked, RolloutClosed(why)), answers.partial
        unknown = UnknownRollout(
            f"no replica holds rollout {expectation}/{key}: check the expectation and the key"
        )
        return Outcome(asked, unknown), answers.partial

    async def findings(self, query: FindingQuery, local: bool) -> tuple[Rows, list[str]]:
        mine = self.replica.findings(query)
        if local:
            return mine, []
        answers = await self.peers.ask("/api/v1/findings", _finding_params(query))
        theirs = _lists(answers, "findings", _finding_shaped)
        merged = {row.get("id") or id(row): row for row in [*mine, *theirs]}
        return select_findings(merged.values(), query), answers.partial


def _peer_outcome(asked: Requested, status: int, body: Any) -> Outcome | None:
    """What a peer's answer to a forwarded action says; None when it is not the API's."""
    if not isinstance(body, dict):
        return None
    if status == 200:
        try:
            return Outcome(asked, None, actions_from_json(body.get("actions")))
        except (KeyError, TypeError, ValueError):
            return None
    message = body.get("error")
    if not isinstance(message, str):
        return None
    kinds = {code: kind for kind, code in REFUSED_STATUS.items() if kind is not TooManyActions}
    return Outcome(asked, kinds.get(status, ActionRefused)(message))


def _lists(answers: Answers, key: str, shaped: Callable[[Any], bool]) -> Rows:
    """The rows of every answer that has them in the API's shape; an answer that does not is
    no answer (its peer joins `partial`)."""
    rows: Rows = []
    for address, status, body in answers.bodies:
        listed = body.get(key) if status == 200 and isinstance(body, dict) else None
        if isinstance(listed, list) and all(shaped(row) for row in listed):
            rows += listed
        else:
            answers.partial.append(address)
    return rows


def _pages(answers: Answers) -> list[Page]:
    """The page of every answer in the API's shape; an answer that is not is no answer."""
    pages = []
    for address, status, body in answers.bodies:
        listed = body.get("rollouts") if status == 200 and isinstance(body, dict) else None
        if (
            isinstance(listed, list)
            and all(_summary_shaped(row) for row in listed)
            and _page_shaped(body)
        ):
            total, with_problems = body.get("total"), body.get("with_problems", 0)
            pages.append(Page(listed, total, with_problems, body.get("next")))
        else:
            answers.partial.append(address)
    return pages


def _page_shaped(body: dict[str, Any]) -> bool:
    total, with_problems, cursor = body.get("total"), body.get("with_problems", 0), body.get("next")
    return (
        (total is None or (type(total) is int and total >= 0))
        and type(with_problems) is int
        and with_problems >= 0
        and (cursor is None or isinstance(cursor, str))
    )


def _summary_shaped(row: Any) -> bool:
    """What the filters and the order read of a row is there (a peer's answer is not trusted
    to be ours: a row without an owner would fail the owner filter with a KeyError)."""
    compensation = row.get("compensation") if isinstance(row, dict) else None
    return (
        _texts(row, ("expectation", "rollout", "phase", "opened_at"))
        and _is_time(row["opened_at"])
        and isinstance(row.get("problems"), list)
        and isinstance(row.get("steps"), list)
        and all(_texts(step, ("step", "state")) and "owner" in step for step in row["steps"])
        and "owner" in row
        and (not compensation or (isinstance(compensation, dict) and "owner" in compensation))
    )


def _finding_shaped(row: Any) -> bool:
    return _texts(row, ("kind", "at")) and _is_time(row["at"])


def _is_time(text: str) -> bool:
    try:
        parse_rfc3339(text)
    except ValueError:
        return False
    return True


def _texts(row: Any, names: Iterable[str]) -> bool:
    return isinstance(row, dict) and all(isinstance(row.get(name), str) for name in names)


def _params(query: RolloutQuery) -> dict[str, str]:
    params = {"phase": query.phase, "limit": str(query.limit)}
    if query.expectation is not None:
        params["expectation"] = query.expectation
    if query.owner is not None:
        params["owner"] = query.owner
    if query.problem:
        params["problem"] = "true"
    if query.search is not None:
        params["q"] = query.search
    if query.after is not None:
        params["after"] = encode_cursor(query.after)
    return params


def _finding_params(query: FindingQuery) -> dict[str, str]:
    params = {}
    if query.since is not None:
        params["since"] = format_rfc3339(query.since)
    if query.limit is not None:
        params["limit"] = str(query.limit)
    return params
