"""Basic auth on the real server (`http.basic_auth`): the board, the rollout pages, the static
files and the API ask for the configured user; /metrics, /healthz and /readyz stay open."""

from __future__ import annotations

import base64

import pytest

from sentinel.config import BasicAuth

from .conftest import NAME, StartSentinel
from .server import Sentinel, get

AUTH = BasicAuth("oncall", "s3cret:with colon")
PROTECTED = ("/", f"/rollouts/{NAME}/stuck", "/static/board.css", "/api/v1/rollouts")


def header(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


@pytest.fixture
async def guarded(start_sentinel: StartSentinel) -> Sentinel:
    return await start_sentinel(basic_auth=AUTH)


@pytest.mark.parametrize("path", PROTECTED)
async def test_without_credentials_every_page_and_the_api_answer_401(
    guarded: Sentinel, path: str
) -> None:
    status, body, headers = await get(guarded.url, path)
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="rollout-sentinel", charset="UTF-8"'
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert body == {
        "status": 401,
        "error": "this sentinel asks for a username and password",
        "partial": [],
    }


async def test_with_the_users_credentials_they_answer(guarded: Sentinel) -> None:
    status, _, _ = await get(
        guarded.url, "/api/v1/rollouts", headers=header("oncall:s3cret:with colon")
    )
    assert status == 200
    status, _, _ = await get(guarded.url, "/", headers=header("oncall:s3cret:with colon"))
    assert status == 200


@pytest.mark.parametrize(
    "authorization",
    [
        header("oncall:wrong")["Authorization"],
        header("someone:s3cret:with colon")["Authorization"],
        header("oncall")["Authorization"],
        "Basic not base64 at all!",
        "Bearer " + base64.b64encode(b"oncall:s3cret:with colon").decode(),
        "",
    ],
)
async def test_wrong_or_malformed_credentials_answer_401(
    guarded: Sentinel, authorization: str
) -> None:
    status, _, _ = await get(
        guarded.url, "/api/v1/findings", headers={"Authorization": authorization}
    )
    assert status == 401


@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/readyz"])
async def test_probes_and_the_scrape_stay_open(guarded: Sentinel, path: str) -> None:
    status, _, _ = await get(guarded.url, path)
    assert status == 200


async def test_without_basic_auth_nothing_asks_for_credentials(
    start_sentinel: StartSentinel,
) -> None:
    sentinel = await start_sentinel()
    for path in PROTECTED[:1] + PROTECTED[2:]:
        status, _, _ = await get(sentinel.url, path)
        assert status == 200, path
