"""Who may see the board and the rollout API, and the headers they are sent with: optional
basic auth, checked in constant time, and the security headers of every page and API answer.
/metrics, /healthz and /readyz stay open for probes and scrapes (contract section 11)."""

from __future__ import annotations

import base64
import binascii
import hmac

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from sentinel.config import BasicAuth
from sentinel.status.api_json import error_body
from sentinel.status.assets import SECURITY_HEADERS

OPEN_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
_CHALLENGE = 'Basic realm="rollout-sentinel", charset="UTF-8"'


def require_basic_auth(auth: BasicAuth) -> Middleware:
    """A middleware that answers 401 to a request without the configured user's credentials
    (every path but OPEN_PATHS)."""
    username, password = auth.username.encode(), auth.password.encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS or _matches(request, username, password):
            return await handler(request)
        return web.Response(
            status=401,
            body=orjson.dumps(error_body(401, "this sentinel asks for a username and password")),
            content_type="application/json",
            headers={"WWW-Authenticate": _CHALLENGE},
        )

    return check


def _matches(request: web.Request, username: bytes, password: bytes) -> bool:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    given_user, colon, given_password = given.partition(b":")
    # Both compared whatever the first says: the time taken tells nothing of either.
    same_user = hmac.compare_digest(given_user, username)
    same_password = hmac.compare_digest(given_password, password)
    return bool(colon) and same_user and same_password


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """An `on_response_prepare` signal: every answer but the probes' and the scrape's."""
    if request.path not in OPEN_PATHS:
        response.headers.update(SECURITY_HEADERS)
