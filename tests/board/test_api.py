"""The rollout API on the sentinel's real server: the list and its filters, `limit`, the
history behind `phase=closed|all`, one rollout in full, the expectations, the findings, and
clear 400s and 404s in the documented shape."""

from __future__ import annotations

import re
from html import unescape

import pytest
from engine.helpers import MIN, T0, event

from sentinel.status.assets import SECURITY_HEADERS

from .conftest import NAME, StartSentinel
from .server import Sentinel, get


def keys(body: dict) -> list[str]:  # type: ignore[type-arg]
    return [row["rollout"] for row in body["rollouts"]]


async def test_the_list_shows_the_open_rollouts_problems_first_then_newest_opened(
    sentinel: Sentinel,
) -> None:
    status, body, _ = await get(sentinel.url, "/api/v1/rollouts")
    assert status == 200
    assert body["clock"] == "2026-11-25T10:12:00Z"
    assert keys(body) == ["back", "stuck", "ledger", "fresh"]
    assert body["partial"] == []
    assert (body["total"], body["with_problems"], body["next"]) == (4, 2, None)
    stuck = body["rollouts"][1]
    assert stuck["problems"] == ["stall"]
    assert [(s["step"], s["state"]) for s in stuck["steps"]] == [
        ("SchemaV2_Ready", "seen"),
        ("UserServiceV2_Running", "stalled"),
        ("MessagingService_Reconfigured", "pending"),
    ]
    assert "event_id" not in stuck["steps"][0]  # only the full rollout names the events


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"expectation": NAME}, ["back", "stuck", "fresh"]),
        ({"owner": "team-users"}, ["back", "stuck", "fresh"]),  # a step's owner counts
        ({"owner": "team-billing"}, ["ledger"]),
        ({"problem": "true"}, ["back", "stuck"]),
        ({"problem": "true", "expectation": "billing-v3"}, []),
        ({"limit": "2"}, ["back", "stuck"]),
        ({"limit": "002", "q": "E"}, ["ledger", "fresh"]),  # a part of the key, any case
        ({"q": "ST"}, ["stuck"]),
        ({"phase": "closed"}, ["done"]),
        ({"phase": "all", "expectation": NAME}, ["back", "stuck", "fresh", "done"]),
        ({"phase": "all", "limit": "1", "owner": "team-identity"}, ["back"]),
    ],
)
async def test_filters_and_limit_narrow_the_list(
    sentinel: Sentinel, params: dict[str, str], expected: list[str]
) -> None:
    status, body, _ = await get(sentinel.url, "/api/v1/rollouts", **params)
    assert status == 200
    assert keys(body) == expected


async def test_closed_rollouts_come_from_the_history_once_the_engine_has_forgotten_them(
    start_sentinel: StartSentinel,
) -> None:
    sentinel = await start_sentinel(retention_s=60 * MIN)
    sentinel.events(
        [
            event("SchemaV2_Ready", T0, "old", "o-1"),
            event("Rollback_Initiated", T0 + MIN, "old", "o-2"),
            event("Rollback_Complete", T0 + 2 * MIN, "old", "o-3"),
        ],
        T0 + 3 * MIN,
    )
    sentinel.events([], T0 + 3 * 60 * MIN)  # a batch well past the engine's retention
    assert sentinel.engine.view(NAME, "old") is None
    _, body, _ = await get(sentinel.url, "/api/v1/rollouts", phase="closed")
    assert keys(body) == ["old"]
    assert body["rollouts"][0]["phase"] == "rolled_back"
    status, full, _ = await get(sentinel.url, f"/api/v1/rollouts/{NAME}/old")
    assert status == 200
    assert [f["kind"] for f in full["findings"]] == ["rollback", "rolled_back"]
    assert full["compensation"]["event_id"] == "o-3"


async def test_one_rollout_in_full_names_each_counted_event_and_its_findings(
    sentinel: Sentinel,
) -> None:
    status, body, _ = await get(sentinel.url, f"/api/v1/rollouts/{NAME}/stuck")
    assert status == 200
    assert [(s["step"], s["event_id"], s["source"]) for s in body["steps"]] == [
        ("SchemaV2_Ready", "e-stuck-1", "/tests"),
        ("UserServiceV2_Running", None, None),
        ("MessagingService_Reconfigured", None, None),
    ]
    assert [(f["kind"], f["step"]) for f in body["findings"]] == [
        ("stall", "UserServiceV2_Running")
    ]
    _, done, _ = await get(sentinel.url, f"/api/v1/rollouts/{NAME}/done")
    assert done["phase"] == "completed"
    assert [f["kind"] for f in done["findings"]] == ["completed"]


async def test_a_schema_violation_is_among_the_findings_of_its_open_rollout(
    sentinel: Sentinel,
) -> None:
    broken = event("UserServiceV2_Running", T0 + 9 * MIN, "fresh", "e-bad", broken=True)
    sentinel.events([broken], T0 + 13 * MIN)
    _, body, _ = await get(sentinel.url, f"/api/v1/rollouts/{NAME}/fresh")
    assert [(f["kind"], f["event_id"]) for f in body["findings"]] == [("schema_violation", "e-bad")]
    assert body["steps"][1]["event_id"] is None  # a broken event does not count


async def test_a_key_with_a_slash_and_spaces_is_reached_percent_encoded(
    start_sentinel: StartSentinel,
) -> None:
    sentinel = await start_sentinel()
    sentinel.events([event("SchemaV2_Ready", T0, "team a/r 1?x", "e-1")], T0)
    status, body, _ = await get(sentinel.url, f"/api/v1/rollouts/{NAME}/team%20a%2Fr%201%3Fx")
    assert status == 200
    assert body["rollout"] == "team a/r 1?x"


async def test_an_unknown_rollout_is_a_404_that_says_so(sentinel: Sentinel) -> None:
    status, body, _ = await get(sentinel.url, f"/api/v1/rollouts/{NAME}/nobody")
    assert status == 404
    assert body == {
        "status": 404,
        "error": f"no rollout 'nobody' of expectation '{NAME}' is open or in the history",
        "partial": [],
    }
    status, page, _ = await get(sentinel.url, f"/rollouts/{NAME}/nobody")
    assert status == 404
    assert "No such rollout" in page


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/api/v1/rollouts", {"phase": "done"}, "phase must be one of open, closed, all"),
        ("/api/v1/rollouts", {"limit": "0"}, "limit must be a whole number from 1 to 10000"),
        ("/api/v1/rollouts", {"problem": "yes"}, "problem must be true or false"),
        ("/api/v1/rollouts", {"colour": "red"}, "unknown parameter 'colour'"),
        ("/api/v1/findings", {"since": "yesterday"}, "since must be an RFC 3339 time"),
        ("/api/v1/findings", {"limit": "many"}, "limit must be a whole number"),
    ],
)
async def test_a_bad_parameter_is_a_400_that_names_it(
    sentinel: Sentinel, path: str, params: dict[str, str], named: str
) -> None:
    status, body, _ = await get(sentinel.url, path, **params)
    assert status == 400
    assert body["status"] == 400
    assert named in body["error"]


async def test_the_expectations_come_with_their_step_graphs(sentinel: Sentinel) -> None:
    _, body, _ = await get(sentinel.url, "/api/v1/expectations")
    assert [exp["name"] for exp in body["expectations"]] == [NAME, "billing-v3"]
    assert "flowchart LR" in body["expectations"][0]["mermaid"]


async def test_findings_are_newest_first_with_since_and_limit(sentinel: Sentinel) -> None:
    _, body, _ = await get(sentinel.url, "/api/v1/findings")
    assert [(f["kind"], f["rollout"]) for f in body["findings"]] == [
        ("stall", "stuck"),
        ("rollback", "back"),
        ("completed", "done"),
    ]
    _, body, _ = await get(sentinel.url, "/api/v1/findings", limit="1")
    assert [f["kind"] for f in body["findings"]] == ["stall"]
    sentinel.events([event("UserServiceV2_Running", T0 + 13 * MIN, "stuck")], T0 + 13 * MIN)
    _, body, _ = await get(sentinel.url, "/api/v1/findings", since="2026-11-25T10:12:30Z")
    assert [f["kind"] for f in body["findings"]] == ["recovered"]


async def test_the_clock_is_the_wall_clock_until_the_first_batch(
    start_sentinel: StartSentinel,
) -> None:
    sentinel = await start_sentinel(wall_clock=T0 + 30)
    _, body, _ = await get(sentinel.url, "/api/v1/rollouts")
    assert body == {
        "clock": "2026-11-25T10:00:30Z",
        "rollouts": [],
        "partial": [],
        "total": 0,
        "with_problems": 0,
        "next": None,
    }


async def test_pages_and_api_answers_carry_the_security_headers_and_probes_do_not(
    sentinel: Sentinel,
) -> None:
    for path in ("/", f"/rollouts/{NAME}/stuck", "/static/board.js", "/api/v1/rollouts"):
        status, _, headers = await get(sentinel.url, path)
        assert status == 200, path
        for name, value in SECURITY_HEADERS.items():
            assert headers[name] == value, (path, name)
    _, _, headers = await get(sentinel.url, "/api/v1/rollouts/x/y")  # a 404 too
    assert headers["X-Content-Type-Options"] == "nosniff"
    for path in ("/metrics", "/healthz", "/readyz"):
        status, _, headers = await get(sentinel.url, path)
        assert status == 200
        assert "Content-Security-Policy" not in headers
    status, _, _ = await get(sentinel.url, "/static/../sentinel.db")
    assert status == 404


async def test_the_board_shows_open_rollouts_and_the_closed_view_the_history(
    sentinel: Sentinel,
) -> None:
    status, html, headers = await get(sentinel.url, "/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert 'data-clock="2026-11-25T10:12:00Z"' in html
    for key in ("stuck", "back", "fresh", "ledger"):
        assert f'data-rollout="{key}"' in html
    assert 'data-rollout="done"' not in html.split('id="groups"')[1].split("</div>")[0]
    _, closed, _ = await get(sentinel.url, "/", phase="closed")
    groups = closed.split('id="groups"')[1]
    assert 'data-rollout="done"' in groups
    assert 'data-rollout="stuck"' not in groups
    _, page, _ = await get(sentinel.url, f"/rollouts/{NAME}/stuck")
    assert "e-stuck-1" in page


async def test_pages_of_open_and_closed_rollouts_show_each_once_in_the_order_of_one_answer(
    start_sentinel: StartSentinel,
) -> None:
    sentinel = await start_sentinel()
    events = []
    for n in range(7):  # opened 30 s apart; the even ones complete
        at = T0 + n * 30
        events.append(event("SchemaV2_Ready", at, f"r{n}", f"a{n}"))
        if n % 2 == 0:
            events.append(event("UserServiceV2_Running", at + 1, f"r{n}", f"b{n}"))
            events.append(event("MessagingService_Reconfigured", at + 2, f"r{n}", f"c{n}"))
    sentinel.events(events, T0 + 12 * MIN)  # r1 and r3 stalled
    for phase in ("open", "closed", "all"):
        _, whole, _ = await get(sentinel.url, "/api/v1/rollouts", phase=phase, limit="100")
        paged: list[str] = []
        after: dict[str, str] = {}
        while True:
            status, body, _ = await get(
                sentinel.url, "/api/v1/rollouts", phase=phase, limit="2", **after
            )
            assert status == 200
            assert body["total"] == (3 if phase == "open" else None)
            paged += keys(body)
            if body["next"] is None:
                break
            after = {"after": body["next"]}
        assert paged == keys(whole), phase
    assert keys(whole) == ["r3", "r1", "r6", "r5", "r4", "r2", "r0"]


async def test_the_board_says_how_many_there_are_and_links_each_next_page(
    start_sentinel: StartSentinel,
) -> None:
    sentinel = await start_sentinel()
    opened = [event("SchemaV2_Ready", T0 + n * MIN, f"r{n}", f"e{n}") for n in range(5)]
    sentinel.events(opened, T0 + 12 * MIN)  # r0 and r1 stalled
    path, shown = "/?limit=2&owner=team-users", []
    for _ in range(4):
        status, html, _ = await get(sentinel.url, path)
        assert status == 200
        groups = html.split('id="groups"')[1].split("</div>\n")[0]
        shown += re.findall(r'<article[^>]* data-rollout="([^"]+)"', groups)
        assert '<span class="count-total">5</span> open rollout(s) shown, 2 with problems' in html
        following = re.search(r'<a href="([^"]+)" rel="next">Next 2 rollouts', html)
        if following is None:
            break
        path = unescape(following.group(1))
        assert "owner=team-users" in path  # the filters stay
    assert shown == ["r1", "r0", "r4", "r3", "r2"]
    assert 'rel="first"' in html
