"""No query can make the HTTP face fail (issue 22): a bad parameter is a 400 whose error names
it, and arbitrary query strings (and rollout paths) on every endpoint never answer 500."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from engine.helpers import MIN, T0
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import NAME, billing, every_state
from .server import Sentinel

ENDPOINTS = (
    "/",
    "/api/v1/rollouts",
    "/api/v1/findings",
    "/api/v1/expectations",
    "/api/v1/openapi.json",
    f"/api/v1/rollouts/{NAME}/stuck",
    f"/rollouts/{NAME}/stuck",
    "/static/board.js",
)
NAMES = ("expectation", "owner", "phase", "problem", "q", "limit", "after", "since")


@pytest.fixture(scope="module")
def address() -> Iterator[tuple[str, int]]:
    """A sentinel holding every state, with a peer that is not there (its questions are
    forwarded too), served on a loop of its own thread: hypothesis calls synchronously."""
    from engine.helpers import user_service  # noqa: PLC0415

    sentinel = Sentinel([user_service(), billing()], peers=["127.0.0.1:9"], wall_clock=T0)
    sentinel.events(every_state(), T0 + 12 * MIN)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(sentinel.start(), loop).result(10)
    yield "127.0.0.1", sentinel.http.port
    asyncio.run_coroutine_threadsafe(sentinel.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def ask(address: tuple[str, int], target: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(*address, timeout=30)
    try:
        connection.request("GET", target)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("path", "query", "named"),
    [
        ("/api/v1/rollouts", "limit=" + "9" * 5000, "limit must be a whole number"),
        ("/api/v1/findings", "limit=" + "1" * 5000, "limit must be a whole number"),
        ("/api/v1/rollouts", "limit=0", "limit"),
        ("/api/v1/rollouts", "limit=-5", "limit"),
        ("/api/v1/findings", "limit=-0", "limit"),
        ("/api/v1/findings", "since=0000-12-31T00:00:00Z", "since must be an RFC 3339 time"),
        ("/api/v1/findings", "since=0001-01-01T00:00:00%2B01:00", "since"),  # year 0 in UTC
        ("/api/v1/findings", "since=9999-12-31T23:59:59-01:00", "since"),  # year 10000
        ("/api/v1/rollouts", "after=-1", "after must be the 'next' of an earlier answer"),
        ("/api/v1/rollouts", "after=0", "after"),
        ("/api/v1/rollouts", "offset=10", "unknown parameter 'offset'"),
    ],
)
def test_a_bad_parameter_is_a_400_that_names_it(
    address: tuple[str, int], path: str, query: str, named: str
) -> None:
    status, body = ask(address, f"{path}?{query}")
    assert status == 400
    error = json.loads(body)["error"]
    assert named in error
    assert len(error) < 300  # a 5,000-digit value is not sent back whole


def test_the_board_reads_what_it_can_and_never_refuses(address: tuple[str, int]) -> None:
    for query in ("limit=" + "9" * 5000, "after=-1", "limit=0&after=x&phase=nope", "q=%00%1b"):
        status, body = ask(address, f"/?{query}")
        assert status == 200, query
        assert b"stuck" in body


# Query strings as a client may send them: known and unknown names, values of digits, times,
# cursors and any characters, percent-encoded or raw.
times = st.builds(
    "{}-{}T{}{}".format,
    st.sampled_from(["0000", "0001", "0002", "1969", "2026", "9999"]),
    st.sampled_from(["01-01", "12-31", "02-30", "13-01"]),
    st.sampled_from(["00:00:00", "23:59:59", "12:00:00.123456", "24:00:00"]),
    st.sampled_from(["Z", "+01:00", "-01:00", "+23:59", "-24:00", ""]),
)
digits = st.from_regex(r"\A-?[0-9]{1,30}\Z") | st.integers(4_000, 6_000).map(
    lambda count: "7" * count  # past int()'s 4,300 digits
)
cursors = st.from_regex(r"\A[01]\.-?[0-9]{1,25}\.[A-Za-z0-9_=-]{0,12}\.[A-Za-z0-9_-]{0,12}\Z")
words = st.sampled_from(["true", "false", "open", "closed", "all", "", "%", "%zz", "%ff%fe"])
values = st.one_of(st.text(max_size=30), digits, times, cursors, words)
pairs = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(NAMES) | st.text(max_size=8), values),
        st.tuples(st.just("limit"), digits),
        st.tuples(st.just("since"), times),
        st.tuples(st.just("after"), cursors | st.text(max_size=30)),
    ),
    max_size=3,
)
raw = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@given(params=pairs, encoded=st.integers(0, 3), tail=raw)
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_query_string_is_a_500(
    address: tuple[str, int],
    endpoint: str,
    params: list[tuple[str, str]],
    encoded: int,
    tail: str,
) -> None:
    if encoded:  # three times in four
        query = "&".join(
            f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in params
        )
    else:
        query = tail
    status, body = ask(address, f"{endpoint}?{query}")
    assert status < 500, (endpoint, query, body[:300])


@given(
    parts=st.tuples(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20)),
    page=st.booleans(),
)
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_no_rollout_path_is_a_500(
    address: tuple[str, int], parts: tuple[str, str], page: bool
) -> None:
    expectation, key = (quote(part, safe="") for part in parts)
    path = f"/rollouts/{expectation}/{key}" if page else f"/api/v1/rollouts/{expectation}/{key}"
    status, body = ask(address, path)
    assert status in (200, 404), (path, body[:300])
