"""What the HTTP layer serves as it is: the board's static files, the OpenAPI document and
the security headers."""

from __future__ import annotations

import orjson
import pytest

from sentinel.status.assets import (
    CONTENT_SECURITY_POLICY,
    SECURITY_HEADERS,
    openapi_bytes,
    openapi_document,
    static_file,
)


def test_the_boards_script_and_style_are_served_with_their_types() -> None:
    script = static_file("board.js")
    style = static_file("board.css")
    assert script is not None and script[1].startswith("text/javascript")
    assert style is not None and style[1].startswith("text/css")
    assert b"EventSource" in script[0]


def test_no_other_name_is_a_static_file() -> None:
    for name in ("../assets.py", "openapi.json", "", "board.js/..", "BOARD.JS"):
        assert static_file(name) is None


@pytest.mark.parametrize("name", ["render.js", "board.js", "actions.js"])
def test_the_scripts_never_write_markup(name: str) -> None:
    script, _ = static_file(name) or (b"", "")
    assert script
    for sink in (b"innerHTML", b"outerHTML", b"insertAdjacentHTML", b"document.write", b"eval("):
        assert sink not in script


def test_the_policy_allows_nothing_from_another_origin_and_nothing_inline() -> None:
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert SECURITY_HEADERS["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert SECURITY_HEADERS["X-Content-Type-Options"] == "nosniff"


def test_the_openapi_document_describes_every_path_of_sections_11_and_14() -> None:
    document = openapi_document()
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {
        "/api/v1/rollouts",
        "/api/v1/rollouts/{expectation}/{rollout}",
        "/api/v1/rollouts/{expectation}/{rollout}/actions",
        "/api/v1/expectations",
        "/api/v1/findings",
        "/api/v1/stream",
        "/api/v1/openapi.json",
    }
    stream = document["paths"]["/api/v1/stream"]["get"]["responses"]["200"]["content"]
    assert "text/event-stream" in stream
    rollouts = document["paths"]["/api/v1/rollouts"]["get"]["responses"]
    assert "400" in rollouts
    one = document["paths"]["/api/v1/rollouts/{expectation}/{rollout}"]["get"]["responses"]
    assert "404" in one
    assert "partial" in document["components"]["schemas"]["RolloutList"]["properties"]
    assert orjson.loads(openapi_bytes()) == document
