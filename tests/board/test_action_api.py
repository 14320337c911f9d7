"""`POST /api/v1/rollouts/{expectation}/{rollout}/actions` on the real server (contract section
14): an operator's action from the board's own page is taken and answered with the rollout's
actions; a viewer's (another basic-auth user of the same sentinel), a cross-origin one, one
without the board's session cookie or its page's token, one with a token of another session,
one on a forged rollout key, or one with a bad body is refused and changes nothing."""

from __future__ import annotations

import base64
import hmac
from http.cookies import SimpleCookie
from typing import Any

import aiohttp
import orjson
import pytest
from engine.helpers import MIN, T0
from status.test_api import assert_valid

from sentinel.config import BasicAuth, BasicAuthUser
from sentinel.core.engine.snapshots import Phase
from sentinel.status.operators import action_token

from .conftest import NAME, StartSentinel, every_state
from .server import Sentinel, get

OPERATOR = BasicAuthUser("oncall", "s3cret")
VIEWER = BasicAuthUser("viewer", "v1ewer:pw")
# Two users on one sentinel: the operator acts, the viewer only reads.
AUTH = BasicAuth(users=(OPERATOR, VIEWER))
OTHER_KEY = BasicAuth(users=(BasicAuthUser("oncall", "another password"), VIEWER))
SESSION = "5e55" * 8  # what a board's page would have set in the browser's cookie
OTHER_SESSION = "0ff1" * 8


def credentials(user: BasicAuthUser = OPERATOR) -> str:
    return "Basic " + base64.b64encode(f"{user.username}:{user.password}".encode()).decode()


async def started(start: StartSentinel, operators: tuple[str, ...] = ("oncall",)) -> Sentinel:
    sentinel = await start(basic_auth=AUTH, operators=operators)
    sentinel.events(every_state(), T0 + 12 * MIN)
    return sentinel


def board_headers(
    sentinel: Sentinel, user: BasicAuthUser = OPERATOR, **changed: str | None
) -> dict[str, str]:
    """What the board's own page sends: its user, its origin, its session cookie and the
    token of that user's page in that session."""
    token = action_token(sentinel.settings, user.username, SESSION)
    headers: dict[str, str | None] = {
        "Authorization": credentials(user),
        "Origin": sentinel.url,
        "Cookie": f"sentinel_session={SESSION}",
        "X-Sentinel-Token": token,
        **changed,
    }
    return {name: value for name, value in headers.items() if value is not None}


def session_cookie(headers: Any) -> SimpleCookie:
    cookies: SimpleCookie = SimpleCookie()
    for line in headers.getall("Set-Cookie", []):
        cookies.load(line)
    return cookies


async def post(
    sentinel: Sentinel, rollout: str, body: Any, headers: dict[str, str]
) -> tuple[int, Any]:
    path = f"/api/v1/rollouts/{NAME}/{rollout}/actions"
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    async with (
        aiohttp.ClientSession() as session,
        session.post(sentinel.url + path, data=data, headers=headers) as answer,
    ):
        return answer.status, await answer.json()


async def actions_of(sentinel: Sentinel, rollout: str) -> list[dict[str, Any]]:
    status, body, _ = await get(
        sentinel.url, f"/api/v1/rollouts/{NAME}/{rollout}", headers={"Authorization": credentials()}
    )
    assert status == 200
    return list(body["actions"])


async def test_an_operator_acknowledges_snoozes_and_notes_from_the_board(
    start_sentinel: StartSentinel,
) -> None:
    sentinel = await started(start_sentinel)
    headers = board_headers(sentinel)
    status, body = await post(sentinel, "stuck", {"verb": "acknowledge"}, headers)
    assert status == 200, body
    assert [(a["verb"], a["by"], a["via"]) for a in body["actions"]] == [
        ("acknowledge", "oncall", "board")
    ]
    status, body = await post(sentinel, "stuck", {"verb": "snooze", "for": "1h"}, headers)
    assert status == 200, body
    assert body["actions"][-1]["until"] == "2026-11-25T11:12:00Z"
    status, body = await post(sentinel, "stuck", {"verb": "note", "note": "DBA paged"}, headers)
    assert status == 200, body
    assert_valid("ActionResult", body)
    shown = await actions_of(sentinel, "stuck")
    assert [a["verb"] for a in shown] == ["acknowledge", "snooze", "note"]
    assert shown[-1]["note"] == "DBA paged"


async def test_abandon_closes_the_rollout_and_then_only_a_note_is_taken(
    start_sentinel: StartSentinel,
) -> None:
    sentinel = await started(start_sentinel)
    headers = board_headers(sentinel)
    status, body = await post(sentinel, "stuck", {"verb": "abandon", "note": "bad image"}, headers)
    assert status == 200, body
    assert sentinel.engine.rollouts[NAME]["stuck"].phase is Phase.ABANDONED
    status, body, _ = await get(
        sentinel.url, f"/api/v1/rollouts/{NAME}/stuck", headers={"Authorization": credentials()}
    )
    assert body["phase"] == "abandoned"
    assert_valid("FullRollout", body)
    assert body["findings"][-1]["kind"] == "abandoned"
    assert "called off by oncall on the board: bad image" in body["findings"][-1]["reason"]
    status, body = await post(sentinel, "stuck", {"verb": "acknowledge"}, headers)
    assert status == 409, body
    assert "closed" in body["error"]
    status, body = await post(sentinel, "stuck", {"verb": "note", "note": "postmortem"}, headers)
    assert status == 200, body


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"Origin": None}, "own page"),
        ({"Origin": "https://evil.example"}, "own page"),
        ({"X-Sentinel-Token": None}, "X-Sentinel-Token"),
        ({"X-Sentinel-Token": "0" * 64}, "X-Sentinel-Token"),
        ({"X-Sentinel-Token": "é" * 64}, "X-Sentinel-Token"),
        ({"Cookie": None}, "sentinel_session cookie"),
        ({"Cookie": "sentinel_session=not-one-the-board-sets"}, "sentinel_session cookie"),
        # The token of this user's page in another session, replayed: no.
        ({"Cookie": f"sentinel_session={OTHER_SESSION}"}, "in this session"),
    ],
)
async def test_a_request_not_from_the_boards_page_is_refused_and_changes_nothing(
    start_sentinel: StartSentinel, change: dict[str, str | None], says: str
) -> None:
    sentinel = await started(start_sentinel)
    status, body = await post(
        sentinel, "stuck", {"verb": "abandon"}, board_headers(sentinel, **change)
    )
    assert status == 403, body
    assert_valid("Error", body)
    assert says in body["error"]
    assert await actions_of(sentinel, "stuck") == []
    assert sentinel.engine.rollouts[NAME]["stuck"].phase is Phase.OPEN


async def test_a_viewer_is_refused_and_changes_nothing(start_sentinel: StartSentinel) -> None:
    """The viewer is a user of the same sentinel whose operator acts: signed in, not listed
    in http.operators."""
    sentinel = await started(start_sentinel)
    assert action_token(sentinel.settings, "viewer", SESSION) is None  # their page has none
    # Even with the operator's token of that session, or one made up.
    for token in (action_token(sentinel.settings, "oncall", SESSION), "f" * 64):
        headers = board_headers(sentinel, VIEWER, **{"X-Sentinel-Token": token})
        status, body = await post(sentinel, "stuck", {"verb": "acknowledge"}, headers)
        assert status == 403 and "http.operators" in body["error"]
    assert await actions_of(sentinel, "stuck") == []
    status, _ = await post(sentinel, "stuck", {"verb": "acknowledge"}, board_headers(sentinel))
    assert status == 200  # the operator, on the same sentinel


async def test_a_token_made_with_another_key_is_refused(start_sentinel: StartSentinel) -> None:
    sentinel = await started(start_sentinel)
    other = await start_sentinel(basic_auth=OTHER_KEY, operators=("oncall",))
    forged = action_token(other.settings, "oncall", SESSION)
    assert forged is not None and forged != action_token(sentinel.settings, "oncall", SESSION)
    headers = board_headers(sentinel, **{"X-Sentinel-Token": forged})
    status, _ = await post(sentinel, "stuck", {"verb": "acknowledge"}, headers)
    assert status == 403
    assert await actions_of(sentinel, "stuck") == []


async def test_without_basic_auth_no_one_may_act(start_sentinel: StartSentinel) -> None:
    sentinel = await start_sentinel()
    sentinel.events(every_state(), T0 + 12 * MIN)
    headers = {"Origin": sentinel.url}
    status, body = await post(sentinel, "stuck", {"verb": "acknowledge"}, headers)
    assert status == 403, body
    assert sentinel.engine.rollouts[NAME]["stuck"].actions == ()


async def test_a_forged_rollout_key_is_404_and_nothing_is_made(
    start_sentinel: StartSentinel,
) -> None:
    sentinel = await started(start_sentinel)
    status, body = await post(sentinel, "forged", {"verb": "acknowledge"}, board_headers(sentinel))
    assert status == 404, body
    assert "forged" not in sentinel.engine.rollouts[NAME]
    assert sentinel.store.load().rollouts  # the store holds only what the events made
    assert "forged" not in {r.key for r in sentinel.store.load().rollouts}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json", "JSON"),
        ([], "JSON object"),
        ({"verb": "silence"}, "verb must be one of"),
        ({"verb": "snooze"}, "needs its length"),
        ({"verb": "snooze", "for": "8d"}, "at most 7d"),
        ({"verb": "snooze", "for": "soon"}, "not a duration"),
        ({"verb": "note"}, "needs its text"),
        ({"verb": "note", "note": "x" * 2001}, "shorten it"),
        ({"verb": "acknowledge", "by": "someone else"}, "unknown keys by"),
    ],
)
async def test_a_bad_body_is_400_saying_what_to_fix_and_changes_nothing(
    start_sentinel: StartSentinel, body: Any, says: str
) -> None:
    sentinel = await started(start_sentinel)
    status, answer = await post(sentinel, "stuck", body, board_headers(sentinel))
    assert status == 400, answer
    assert says in answer["error"]
    assert await actions_of(sentinel, "stuck") == []


async def test_the_internal_route_takes_only_a_peers_signed_request(
    start_sentinel: StartSentinel,
) -> None:
    """A user cannot skip the board's checks by posting to the route peers use."""
    sentinel = await started(start_sentinel)
    body = orjson.dumps(
        {
            "expectation": NAME,
            "rollout": "stuck",
            "action": {"verb": "abandon", "by": "x", "at": "2026-11-25T10:12:00Z", "via": "board"},
        }
    )
    for headers in (
        {"Authorization": credentials()},
        {"Authorization": credentials(), "X-Sentinel-Local": "1"},
        {"Authorization": credentials(), "X-Sentinel-Local": "1", "X-Sentinel-Peer-Token": "00"},
    ):
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                sentinel.url + "/api/v1/internal/actions", data=body, headers=headers
            ) as a,
        ):
            assert a.status == 403
    assert sentinel.engine.rollouts[NAME]["stuck"].phase is Phase.OPEN


async def test_only_an_operators_page_carries_the_token_of_its_session(
    start_sentinel: StartSentinel,
) -> None:
    """A page without the session cookie sets one (128 random bits, HttpOnly, SameSite
    Strict, Secure behind https) and embeds the operator's token for it (web.access.actors);
    a page with the cookie keeps it; a viewer's page embeds no token."""
    sentinel = await started(start_sentinel)
    path = f"/rollouts/{NAME}/stuck"
    _, page, headers = await get(sentinel.url, path, headers={"Authorization": credentials()})
    cookie = session_cookie(headers)["sentinel_session"]
    session = cookie.value
    assert len(session) == 32 and int(session, 16) >= 0
    assert (cookie["path"], cookie["samesite"], cookie["httponly"]) == ("/", "Strict", True)
    assert not cookie["secure"]  # plain http here
    token = action_token(sentinel.settings, "oncall", session)
    assert token is not None and f'data-token="{token}"' in page
    # Another page without the cookie: another session, another token.
    _, again, headers = await get(sentinel.url, path, headers={"Authorization": credentials()})
    assert session_cookie(headers)["sentinel_session"].value != session
    assert token not in again
    # With the cookie: kept, and the same token.
    with_cookie = {"Authorization": credentials(), "Cookie": f"sentinel_session={session}"}
    _, page, headers = await get(sentinel.url, path, headers=with_cookie)
    assert "Set-Cookie" not in headers and f'data-token="{token}"' in page
    # Behind a proxy that speaks https: the cookie is Secure. The board sets one too.
    proxied = {"Authorization": credentials(), "X-Forwarded-Proto": "https"}
    _, _, headers = await get(sentinel.url, "/", headers=proxied)
    assert session_cookie(headers)["sentinel_session"]["secure"]
    # The viewer's page: no token; the API's answers set no cookie.
    _, page, _ = await get(sentinel.url, path, headers={"Authorization": credentials(VIEWER)})
    assert "data-token" not in page and "Signed in as viewer" in page
    _, _, headers = await get(
        sentinel.url, "/api/v1/rollouts", headers={"Authorization": credentials()}
    )
    assert "Set-Cookie" not in headers


async def test_the_session_a_page_set_and_its_token_act(start_sentinel: StartSentinel) -> None:
    """The whole round: the page's cookie and token, sent back, act; the same token with
    another page's cookie does not."""
    sentinel = await started(start_sentinel)
    auth = {"Authorization": credentials()}
    sessions = []
    for _ in range(2):
        _, _, headers = await get(sentinel.url, f"/rollouts/{NAME}/stuck", headers=auth)
        sessions.append(session_cookie(headers)["sentinel_session"].value)
    mine, theirs = sessions
    token = action_token(sentinel.settings, "oncall", mine)
    replayed = board_headers(
        sentinel, **{"Cookie": f"sentinel_session={theirs}", "X-Sentinel-Token": token}
    )
    status, _ = await post(sentinel, "stuck", {"verb": "acknowledge"}, replayed)
    assert status == 403
    assert await actions_of(sentinel, "stuck") == []
    headers = board_headers(
        sentinel, **{"Cookie": f"sentinel_session={mine}", "X-Sentinel-Token": token}
    )
    status, body = await post(sentinel, "stuck", {"verb": "acknowledge"}, headers)
    assert status == 200, body


async def test_a_rollout_only_the_history_holds_takes_nothing(
    start_sentinel: StartSentinel,
) -> None:
    """Closed and forgotten by the engine (past its retention), in the history only: 409."""
    sentinel = await start_sentinel(basic_auth=AUTH, operators=("oncall",), retention_s=60.0)
    sentinel.events(every_state(), T0 + 12 * MIN)
    headers = board_headers(sentinel)
    status, _ = await post(sentinel, "stuck", {"verb": "abandon"}, headers)
    assert status == 200
    sentinel.advance(T0 + 60 * MIN)  # the engine forgets it; the history keeps it
    assert "stuck" not in sentinel.engine.rollouts[NAME]
    status, body = await post(sentinel, "stuck", {"verb": "note", "note": "late"}, headers)
    assert status == 409, body
    assert "closed" in body["error"]
    assert [a["verb"] for a in await actions_of(sentinel, "stuck")] == ["abandon"]


async def test_passwords_and_tokens_are_compared_in_constant_time(
    start_sentinel: StartSentinel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every basic-auth user's name and password (as digests of one length) and the token go
    through `hmac.compare_digest`, whatever the first comparison says."""
    sentinel = await started(start_sentinel)
    compared: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    wrong = board_headers(sentinel, **{"X-Sentinel-Token": "e" * 64})
    status, _ = await post(sentinel, "stuck", {"verb": "acknowledge"}, wrong)
    assert status == 403
    # Two users, a name and a password each: four digests of 32 bytes, then the token.
    assert [len(a) for a, _ in compared[:4]] == [32, 32, 32, 32]
    assert compared[4:] == [
        (action_token(sentinel.settings, "oncall", SESSION).encode(), b"e" * 64)
    ]
