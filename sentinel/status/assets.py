"""The files the HTTP layer serves as they are (the board's script and style, the OpenAPI
document) and the headers that go with the board; package data, read once and kept."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import orjson

from sentinel.core.engine.kinds import Kind

# Nothing from another origin, no inline script or style: bus data that slipped through the
# escaping could still not run or restyle the page.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# For every answer under `/` and `/api/` (pages, JSON and static files alike).
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
HTML_CONTENT_TYPE = "text/html; charset=utf-8"
STATIC_PREFIX = "/static/"

_STATIC_TYPES = {
    "render.js": "text/javascript; charset=utf-8",
    "board.js": "text/javascript; charset=utf-8",
    "actions.js": "text/javascript; charset=utf-8",
    "board.css": "text/css; charset=utf-8",
}


def static_file(name: str) -> tuple[bytes, str] | None:
    """(body, content type) of `/static/<name>`, or None: only the board's own files exist."""
    if name not in _STATIC_TYPES:
        return None
    return _read("static", name), _STATIC_TYPES[name]


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the rollout API, as a fresh dict."""
    document: dict[str, Any] = orjson.loads(openapi_bytes())
    return document


@cache
def openapi_bytes() -> bytes:
    """The body of `GET /api/v1/openapi.json`: the file, with every finding kind of
    sentinel.core.engine.kinds as the examples of a finding's `kind` (a new kind needs no
    edit here)."""
    document = orjson.loads(_read("openapi.json"))
    kind = document["components"]["schemas"]["Finding"]["properties"]["kind"]
    kind["examples"] = [str(each) for each in Kind]
    return orjson.dumps(document)


@cache
def _read(*parts: str) -> bytes:
    return resources.files("sentinel.status").joinpath(*parts).read_bytes()
