"""Who may see the board and the rollout API, and the headers they are sent with: optional
basic auth, checked in constant time, and the security headers of every page and API answer.
/metrics, /healthz and /readyz stay open for probes and scrapes (contract section 11)."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from urllib.parse import urlsplit

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from sentinel.config import BasicAuth, HttpSettings
from sentinel.status.actions_view import VIEWER, Actor
from sentinel.status.api_json import error_body
from sentinel.status.assets import SECURITY_HEADERS
from sentinel.status.operators import TOKEN_HEADER, action_token, is_operator, token_matches

OPEN_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
# Paths a sender authenticates by signing each request, which basic auth would only block:
# Slack's clicks (`slack_actions.py`: the app's signing secret), which Slack sends without it.
SIGNED_PATHS = frozenset({"/slack/actions"})
_CHALLENGE = 'Basic realm="rollout-sentinel", charset="UTF-8"'


def require_basic_auth(auth: BasicAuth) -> Middleware:
    """A middleware that answers 401 to a request without the configured user's credentials
    (every path but OPEN_PATHS and SIGNED_PATHS)."""
    username, password = auth.username.encode(), auth.password.encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (
            request.path in OPEN_PATHS
            or request.path in SIGNED_PATHS
            or _matches(request, username, password)
        ):
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


def request_user(request: web.Request) -> str | None:
    """The basic-auth user name of the request (checked by `require_basic_auth` before any
    handler runs), or None without one."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        given = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, ValueError):
        return None
    user, colon, _ = given.partition(":")
    return user if colon else None


def actors(http: HttpSettings | None) -> Callable[[web.Request], Actor]:
    """Who asks for a page: the basic-auth user, whether `http.operators` names them, and
    the token their page embeds for the actions route (contract section 14)."""

    def actor(request: web.Request) -> Actor:
        user = request_user(request) if http is not None and http.basic_auth else None
        if http is None or user is None:
            return VIEWER
        operator = is_operator(http, user)
        return Actor(user, operator, action_token(http, user) if operator else None)

    return actor


def action_refusal(http: HttpSettings | None, request: web.Request) -> str | None:
    """Why a state-changing request must get 403 (None: it may go on): it must come from an
    operator (`http.operators`), from the board's own origin (its Origin header's host is the
    Host header's; no Origin, no action) and carry the operator's X-Sentinel-Token."""
    user = request_user(request) if http is not None and http.basic_auth else None
    if http is None or user is None or not is_operator(http, user):
        return "only the users of http.operators may act on rollouts"
    origin, host = request.headers.get("Origin"), request.headers.get("Host")
    if origin is None or host is None or urlsplit(origin).netloc.lower() != host.lower():
        return "an action must be sent from the board's own page (Origin)"
    if not token_matches(http, user, request.headers.get(TOKEN_HEADER)):
        return f"an action must carry the board's {TOKEN_HEADER} for its user: reload the page"
    return None


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """An `on_response_prepare` signal: every answer but the probes' and the scrape's."""
    if request.path not in OPEN_PATHS:
        response.headers.update(SECURITY_HEADERS)
