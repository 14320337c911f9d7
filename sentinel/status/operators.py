"""Who may act on a rollout from the board, and the token that proves a request is the board's
own (contract section 14). Purely computational: HMAC-SHA256 over what the settings hold.

The board gives each browser a session (the `sentinel_session` cookie, 128 random bits, set by
`sentinel.web.access`). The token of a page is HMAC-SHA256(key, user + "\n" + session) in hex,
where the key is the same on every replica: `http.action_secret` (or `action_secret_env`)
when set, else derived from the basic-auth users and passwords that every replica shares. The
page embeds it and sends it back in `X-Sentinel-Token`, and the browser sends the cookie with
it: a page of another site can neither read the token nor make one, and a token copied out of
one session does nothing in another. It is a proof of origin, not a password: who the user is
comes from basic auth, and whether the user may act from `http.operators`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from typing import Protocol


class _User(Protocol):
    @property
    def username(self) -> str: ...

    @property
    def password(self) -> str: ...


class _Auth(Protocol):
    @property
    def everyone(self) -> Sequence[_User]: ...


class HttpSettings(Protocol):
    """What of `sentinel.config.HttpSettings` this reads (the config is not imported here:
    it is above what people read, and brings the sinks' I/O with it)."""

    @property
    def basic_auth(self) -> _Auth | None: ...

    @property
    def operators(self) -> tuple[str, ...]: ...

    @property
    def action_secret(self) -> str | None: ...


TOKEN_HEADER = "X-Sentinel-Token"
# A request forwarded by a peer to the rollout's owner replica carries this: HMAC of its body.
PEER_TOKEN_HEADER = "X-Sentinel-Peer-Token"
_CONTEXT = b"rollout-sentinel board actions v1"
SESSION_PATTERN = re.compile(r"[0-9a-f]{32}")


def action_key(http: HttpSettings) -> bytes | None:
    """The key of the tokens, or None when there is neither a secret nor basic auth (then no
    one is an operator: nobody is known)."""
    if http.action_secret:
        secret = http.action_secret.encode()
    elif http.basic_auth is not None and http.basic_auth.everyone:
        # Every user and password, in a fixed order: the same on every replica.
        pairs = sorted([user.username, user.password] for user in http.basic_auth.everyone)
        secret = json.dumps(pairs).encode()
    else:
        return None
    # Never the password itself: a derived key, for this one purpose.
    return hmac.new(secret, _CONTEXT, hashlib.sha256).digest()


def is_operator(http: HttpSettings, user: str | None) -> bool:
    """`user` (a basic-auth user name) is listed in `http.operators`."""
    return user is not None and user in http.operators


def is_session(session: str | None) -> bool:
    """`session` is what the board's session cookie holds: 128 bits in 32 hex digits."""
    return session is not None and SESSION_PATTERN.fullmatch(session) is not None


def action_token(http: HttpSettings, user: str, session: str) -> str | None:
    """The token the board embeds in `user`'s page of browser session `session`, to send in
    `X-Sentinel-Token` with each action; None when `user` is no operator (or nobody can be)
    or `session` is not one the board gives."""
    key = action_key(http)
    if key is None or not is_operator(http, user) or not is_session(session):
        return None
    return hmac.new(key, f"{user}\n{session}".encode(), hashlib.sha256).hexdigest()


def token_matches(http: HttpSettings, user: str, session: str | None, token: str | None) -> bool:
    """`token` is the one of `user`'s page in `session` (compared in constant time)."""
    return _same(None if session is None else action_token(http, user, session), token)


def peer_token(http: HttpSettings, body: bytes) -> str | None:
    """What a replica sends with an action it forwards to its peers, over the exact body."""
    key = action_key(http)
    return None if key is None else hmac.new(key, b"peer\x1f" + body, hashlib.sha256).hexdigest()


def peer_token_matches(http: HttpSettings, body: bytes, token: str | None) -> bool:
    return _same(peer_token(http, body), token)


def _same(expected: str | None, token: str | None) -> bool:
    """Both tokens there and equal, compared in constant time (as bytes: a token sent with
    characters beyond ASCII is unequal, not an error)."""
    return (
        expected is not None
        and token is not None
        and hmac.compare_digest(expected.encode(), token.encode())
    )
