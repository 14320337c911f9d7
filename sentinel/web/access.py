"""Who may see the board and the rollout API, and the headers they are sent with: optional
basic auth (one user or several, checked in constant time), the board's session cookie, and
the security headers of every page and API answer. /metrics, /healthz and /readyz stay open
for probes and scrapes (contract section 11)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable
from urllib.parse import urlsplit

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from sentinel.config import BasicAuth, HttpSettings
from sentinel.status.actions_view import VIEWER, Actor
from sentinel.status.api_json import error_body
from sentinel.status.assets import SECURITY_HEADERS
from sentinel.status.operators import (
    TOKEN_HEADER,
    action_token,
    is_operator,
    is_session,
    token_matches,
)

OPEN_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
# Paths a sender authenticates by signing each request, which basic auth would only block:
# Slack's clicks (`slack_actions.py`: the app's signing secret), which Slack sends without it.
SIGNED_PATHS = frozenset({"/slack/actions"})
_CHALLENGE = 'Basic realm="rollout-sentinel", charset="UTF-8"'
# The board's browser session (contract section 14): 128 random bits, set on its pages.
SESSION_COOKIE = "sentinel_session"
_USER = web.RequestKey("sentinel_user", str)
_NEW_SESSION = web.RequestKey("sentinel_new_session", str)


def require_basic_auth(auth: BasicAuth) -> Middleware:
    """A middleware that answers 401 to a request without the credentials of one of the
    configured users (every path but OPEN_PATHS and SIGNED_PATHS); the user it names is
    the request's (`request_user`)."""
    users = [(_digest(u.username), _digest(u.password), u.username) for u in auth.everyone]

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS or request.path in SIGNED_PATHS:
            return await handler(request)
        user = _matching_user(request, users)
        if user is not None:
            request[_USER] = user
            return await handler(request)
        return web.Response(
            status=401,
            body=orjson.dumps(error_body(401, "this sentinel asks for a username and password")),
            content_type="application/json",
            headers={"WWW-Authenticate": _CHALLENGE},
        )

    return check


def _digest(text: str | bytes) -> bytes:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).digest()


def _matching_user(request: web.Request, users: list[tuple[bytes, bytes, str]]) -> str | None:
    """The configured user whose name and password the request's basic auth gives, or None.
    Every user's name and password are compared, whatever the others say, as digests of the
    same length: the time taken tells neither which user nor how much of a password is right."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    given_user, colon, given_password = given.partition(b":")
    user_digest, password_digest = _digest(given_user), _digest(given_password)
    found: str | None = None
    for username, password, name in users:
        same_user = hmac.compare_digest(user_digest, username)
        same_password = hmac.compare_digest(password_digest, password)
        if same_user & same_password:
            found = name
    return found if colon else None


def request_user(request: web.Request) -> str | None:
    """The basic-auth user of the request, as `require_basic_auth` checked it before any
    handler ran; None without basic auth."""
    return request.get(_USER)


def request_session(request: web.Request) -> str | None:
    """The board's session of the request (its `sentinel_session` cookie), None without one
    or with one the board would not have set."""
    session = request.cookies.get(SESSION_COOKIE)
    return session if is_session(session) else None


def page_session(request: web.Request) -> str:
    """The session a page is rendered for: the request's, or a new one that `sessions` sets
    in the answer's cookie."""
    session = request_session(request) or request.get(_NEW_SESSION)
    if session is None:
        session = request[_NEW_SESSION] = secrets.token_hex(16)
    return session


@web.middleware
async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every page of the board (an HTML answer) sets the session cookie when the request has
    none: HttpOnly (no script reads it), SameSite=Strict (another site's request does not
    carry it), Secure when the request came over https (or a proxy says it did)."""
    response = await handler(request)
    if response.content_type == "text/html" and request_session(request) is None:
        response.set_cookie(
            SESSION_COOKIE,
            page_session(request),
            path="/",
            httponly=True,
            samesite="Strict",
            secure=_over_https(request),
        )
    return response


def _over_https(request: web.Request) -> bool:
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


def actors(http: HttpSettings | None) -> Callable[[web.Request], Actor]:
    """Who asks for a page: the basic-auth user, whether `http.operators` names them, and
    the token their page embeds for the actions route, for this browser session (contract
    section 14)."""

    def actor(request: web.Request) -> Actor:
        user = request_user(request) if http is not None and http.basic_auth else None
        if http is None or user is None:
            return VIEWER
        operator = is_operator(http, user)
        token = action_token(http, user, page_session(request)) if operator else None
        return Actor(user, operator, token)

    return actor


def action_refusal(http: HttpSettings | None, request: web.Request) -> str | None:
    """Why a state-changing request must get 403 (None: it may go on): it must come from an
    operator (`http.operators`), from the board's own origin (its Origin header's host is the
    Host header's; no Origin, no action), with the board's session cookie and the
    X-Sentinel-Token of that user's page in that session."""
    user = request_user(request) if http is not None and http.basic_auth else None
    if http is None or user is None or not is_operator(http, user):
        return "only the users of http.operators may act on rollouts"
    origin, host = request.headers.get("Origin"), request.headers.get("Host")
    if origin is None or host is None or urlsplit(origin).netloc.lower() != host.lower():
        return "an action must be sent from the board's own page (Origin)"
    session = request_session(request)
    if session is None:
        return f"an action must carry the board's {SESSION_COOKIE} cookie: reload the page"
    if not token_matches(http, user, session, request.headers.get(TOKEN_HEADER)):
        return (
            f"an action must carry the {TOKEN_HEADER} of the board's page in this session:"
            " reload the page"
        )
    return None


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """An `on_response_prepare` signal: every answer but the probes' and the scrape's."""
    if request.path not in OPEN_PATHS:
        response.headers.update(SECURITY_HEADERS)
