"""Who may act on a rollout from the board, and the token that proves a request is the board's
own (contract section 14). Purely computational: HMAC-SHA256 over what the settings hold.

The token of a user is HMAC-SHA256(key, user name) in hex, where the key is the same on every
replica: `http.action_secret` (or `action_secret_env`) when set, else derived from the
basic-auth password that every replica shares. The board's page embeds its user's token and
sends it back in `X-Sentinel-Token`; a page of another site cannot read it, so a cross-site
request cannot carry it. It is a proof of origin, not a password: who the user is comes from
basic auth, and whether the user may act from `http.operators`.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol


class _Auth(Protocol):
    @property
    def password(self) -> str: ...


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


def action_key(http: HttpSettings) -> bytes | None:
    """The key of the tokens, or None when there is neither a secret nor basic auth (then no
    one is an operator: nobody is known)."""
    if http.action_secret:
        secret = http.action_secret.encode()
    elif http.basic_auth is not None:
        secret = http.basic_auth.password.encode()
    else:
        return None
    # Never the password itself: a derived key, for this one purpose.
    return hmac.new(secret, _CONTEXT, hashlib.sha256).digest()


def is_operator(http: HttpSettings, user: str | None) -> bool:
    """`user` (a basic-auth user name) is listed in `http.operators`."""
    return user is not None and user in http.operators


def action_token(http: HttpSettings, user: str) -> str | None:
    """The token the board embeds for `user`, to send in `X-Sentinel-Token` with each action;
    None when `user` is no operator (or nobody can be)."""
    key = action_key(http)
    if key is None or not is_operator(http, user):
        return None
    return hmac.new(key, b"user\x1f" + user.encode(), hashlib.sha256).hexdigest()


def token_matches(http: HttpSettings, user: str, token: str | None) -> bool:
    """`token` is `user`'s (compared in constant time)."""
    expected = action_token(http, user)
    return expected is not None and token is not None and hmac.compare_digest(expected, token)


def peer_token(http: HttpSettings, body: bytes) -> str | None:
    """What a replica sends with an action it forwards to its peers, over the exact body."""
    key = action_key(http)
    return None if key is None else hmac.new(key, b"peer\x1f" + body, hashlib.sha256).hexdigest()


def peer_token_matches(http: HttpSettings, body: bytes, token: str | None) -> bool:
    expected = peer_token(http, body)
    return expected is not None and token is not None and hmac.compare_digest(expected, token)
