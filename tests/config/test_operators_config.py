"""`http.operators` and `http.action_secret_env` (contract section 14): who may act from the
board and the key of their tokens, with errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.config import load_config
from sentinel.status.operators import action_token, is_operator

from .test_config import MINIMAL, refused, write

AUTH = "  basic_auth:\n    username: oncall\n    password: s3cret\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "expectations").mkdir()
    (tmp_path / "schemas").mkdir()
    return tmp_path


def test_operators_and_the_action_key_are_read(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOARD_ACTION_KEY", "k3y")
    text = MINIMAL + "http:\n" + AUTH + "  operators: [oncall, ana]\n"
    plain = load_config(write(folder, text)).http
    keyed = load_config(write(folder, text + "  action_secret_env: BOARD_ACTION_KEY\n")).http
    assert plain.operators == keyed.operators == ("oncall", "ana")
    assert (plain.action_secret, keyed.action_secret) == (None, "k3y")
    assert "k3y" not in repr(keyed)
    assert is_operator(plain, "ana") and not is_operator(plain, "bob")
    token = action_token(plain, "oncall")
    assert token is not None and len(token) == 64
    assert action_token(plain, "bob") is None  # a viewer's page gets none
    # Another key, another token: every replica must share it.
    assert action_token(keyed, "oncall") not in (None, token)


def test_without_operators_nobody_acts(folder: Path) -> None:
    http = load_config(write(folder, MINIMAL + "http:\n" + AUTH)).http
    assert http.operators == ()
    assert action_token(http, "oncall") is None


@pytest.mark.parametrize(
    ("lines", "says"),
    [
        ("  operators: [oncall]\n", "operators: needs http.basic_auth"),
        (AUTH + "  operators: ['on:call']\n", "operators: must be basic-auth user names"),
        (AUTH + "  operators: ['']\n", "operators: must be basic-auth user names"),
        (AUTH + "  action_secret_env: NO_SUCH_VARIABLE_SET\n", "NO_SUCH_VARIABLE_SET is not set"),
    ],
)
def test_a_wrong_operators_key_is_named(folder: Path, lines: str, says: str) -> None:
    assert says in refused(folder, MINIMAL + "http:\n" + lines)
