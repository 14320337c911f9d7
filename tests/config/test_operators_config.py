"""`http.basic_auth` (one user or several), `http.operators` and `http.action_secret_env`
(contract section 14): who may see the board, who may act from it and the key of their
tokens, with errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.config import BasicAuth, BasicAuthUser, load_config
from sentinel.status.operators import action_token, is_operator

from .test_config import MINIMAL, refused, write

AUTH = "  basic_auth:\n    username: oncall\n    password: s3cret\n"
USERS = (
    "  basic_auth:\n"
    "    users:\n"
    "      - {username: alice, password_env: ALICE_PASSWORD}\n"
    "      - {username: bob, password_env: BOB_PASSWORD}\n"
)
SESSION = "0123456789abcdef" * 2
OTHER_SESSION = "fedcba9876543210" * 2


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "expectations").mkdir()
    (tmp_path / "schemas").mkdir()
    return tmp_path


@pytest.fixture
def passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALICE_PASSWORD", "alice-pw")
    monkeypatch.setenv("BOB_PASSWORD", "bob-pw")


def test_operators_and_the_action_key_are_read(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOARD_ACTION_KEY", "k3y")
    text = MINIMAL + "http:\n" + AUTH + "  operators: [oncall]\n"
    plain = load_config(write(folder, text)).http
    keyed = load_config(write(folder, text + "  action_secret_env: BOARD_ACTION_KEY\n")).http
    assert plain.operators == keyed.operators == ("oncall",)
    assert (plain.action_secret, keyed.action_secret) == (None, "k3y")
    assert "k3y" not in repr(keyed)
    assert is_operator(plain, "oncall") and not is_operator(plain, "bob")
    token = action_token(plain, "oncall", SESSION)
    assert token is not None and len(token) == 64
    assert action_token(plain, "bob", SESSION) is None  # a viewer's page gets none
    # Another session, another token: a token is worth nothing out of its session.
    assert action_token(plain, "oncall", OTHER_SESSION) not in (None, token)
    # Not a session the board gives (32 hex digits): no token.
    assert action_token(plain, "oncall", "x" * 32) is None
    # Another key, another token: every replica must share it.
    assert action_token(keyed, "oncall", SESSION) not in (None, token)


def test_the_single_user_form_reads_as_it_always_did(folder: Path) -> None:
    http = load_config(write(folder, MINIMAL + "http:\n" + AUTH)).http
    assert http.basic_auth == BasicAuth("oncall", "s3cret")
    assert http.basic_auth.everyone == (BasicAuthUser("oncall", "s3cret"),)


def test_several_users_are_read_and_only_the_operators_act(folder: Path, passwords: None) -> None:
    text = MINIMAL + "http:\n" + USERS + "  operators: [alice]\n"
    http = load_config(write(folder, text)).http
    assert http.basic_auth is not None
    assert http.basic_auth.everyone == (
        BasicAuthUser("alice", "alice-pw"),
        BasicAuthUser("bob", "bob-pw"),
    )
    assert "alice-pw" not in repr(http) and "bob-pw" not in repr(http)
    assert http.operators == ("alice",)
    assert action_token(http, "alice", SESSION) is not None
    assert action_token(http, "bob", SESSION) is None  # bob only reads


def test_the_single_user_and_a_list_go_together_the_single_first(
    folder: Path, passwords: None
) -> None:
    text = MINIMAL + "http:\n" + AUTH + USERS.removeprefix("  basic_auth:\n")
    text += "  operators: [oncall, bob]\n"
    http = load_config(write(folder, text)).http
    assert http.basic_auth is not None
    assert http.basic_auth.usernames == ("oncall", "alice", "bob")
    assert http.operators == ("oncall", "bob")


def test_the_key_derives_from_every_password(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without `action_secret_env`, changing any user's password changes every token (so
    every replica, sharing the config, shares the key)."""
    monkeypatch.setenv("ALICE_PASSWORD", "alice-pw")
    monkeypatch.setenv("BOB_PASSWORD", "bob-pw")
    text = MINIMAL + "http:\n" + USERS + "  operators: [alice]\n"
    before = action_token(load_config(write(folder, text)).http, "alice", SESSION)
    again = action_token(load_config(write(folder, text)).http, "alice", SESSION)
    monkeypatch.setenv("BOB_PASSWORD", "another")
    after = action_token(load_config(write(folder, text)).http, "alice", SESSION)
    assert before == again and after not in (None, before)


def test_without_operators_nobody_acts(folder: Path) -> None:
    http = load_config(write(folder, MINIMAL + "http:\n" + AUTH)).http
    assert http.operators == ()
    assert action_token(http, "oncall", SESSION) is None


@pytest.mark.parametrize(
    ("lines", "says"),
    [
        ("  operators: [oncall]\n", "operators: needs http.basic_auth"),
        (AUTH + "  operators: ['on:call']\n", "operators: must be basic-auth user names"),
        (AUTH + "  operators: ['']\n", "operators: must be basic-auth user names"),
        (
            AUTH + "  operators: [oncall, ana]\n",
            "http.operators: 'ana' is no user of http.basic_auth (oncall)",
        ),
        (
            USERS + "  operators: [carol]\n",
            "http.operators: 'carol' is no user of http.basic_auth (alice, bob)",
        ),
        (AUTH + "  action_secret_env: NO_SUCH_VARIABLE_SET\n", "NO_SUCH_VARIABLE_SET is not set"),
        (
            "  basic_auth:\n    users:\n      - {username: alice, password: a}\n"
            "      - {username: alice, password: b}\n",
            "http.basic_auth.users[1].username: 'alice' is given twice",
        ),
        (
            AUTH + "    users: [{username: oncall, password: b}]\n",
            "http.basic_auth.users[0].username: 'oncall' is given twice",
        ),
        (
            "  basic_auth:\n    users:\n"
            "      - {username: alice, password_env: NO_SUCH_PASSWORD_SET}\n",
            "http.basic_auth.users[0].password_env: environment variable NO_SUCH_PASSWORD_SET"
            " is not set",
        ),
        (
            "  basic_auth:\n    users: [{username: alice}]\n",
            "http.basic_auth.users[0].password: is required (or password_env: VARIABLE_NAME)",
        ),
        (
            "  basic_auth:\n    users: [{password: x}]\n",
            "http.basic_auth.users[0].username: is required",
        ),
        (
            "  basic_auth:\n    users: [{username: 'a:b', password: x}]\n",
            "http.basic_auth.users[0].username: must be a name without a colon",
        ),
        (
            "  basic_auth:\n    users: [{username: a, password: ''}]\n",
            "http.basic_auth.users[0].password: must not be empty",
        ),
        (
            "  basic_auth:\n    users: [{username: a, pasword: x}]\n",
            "http.basic_auth.users[0].pasword: unknown key (did you mean 'password'?)",
        ),
        ("  basic_auth:\n    users: []\n", "http.basic_auth.users: must list at least one"),
        ("  basic_auth:\n    users: alice\n", "http.basic_auth.users: must be a list"),
        ("  basic_auth:\n    users: [alice]\n", "users[0] must be a mapping of keys"),
        ("  basic_auth: {}\n", "http.basic_auth.username: is required (or users:"),
    ],
)
def test_a_wrong_http_key_is_named(folder: Path, passwords: None, lines: str, says: str) -> None:
    assert says in refused(folder, MINIMAL + "http:\n" + lines)
