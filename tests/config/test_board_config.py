"""The config keys of the board and the rollout API: `http.peers`, `http.peer_timeout`,
`http.basic_auth` and `history.retention`, with errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.config import BasicAuth, HistorySettings, HttpSettings, load_config

from .test_config import MINIMAL, refused, write


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "expectations").mkdir()
    (tmp_path / "schemas").mkdir()
    return tmp_path


def test_without_them_there_are_no_peers_no_auth_and_400_days_of_history(folder: Path) -> None:
    config = load_config(write(folder, MINIMAL))
    assert config.http == HttpSettings()
    assert (config.http.peers, config.http.peer_timeout, config.http.basic_auth) == ((), 2.0, None)
    assert config.history == HistorySettings(retention=400 * 86400.0)


def test_peers_auth_and_retention_are_read(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOARD_PASSWORD", "s3cret")
    text = MINIMAL + (
        "http:\n"
        "  listen: 0.0.0.0:9464\n"
        "  peers: sentinel-peers.monitoring.svc:9464\n"
        "  peer_timeout: 500ms\n"
        "  basic_auth:\n"
        "    username: oncall\n"
        "    password_env: BOARD_PASSWORD\n"
        "history:\n"
        "  retention: 90d\n"
    )
    config = load_config(write(folder, text))
    assert config.http.peers == ("sentinel-peers.monitoring.svc:9464",)
    assert config.http.peer_timeout == 0.5
    assert config.http.basic_auth == BasicAuth("oncall", "s3cret")
    assert "s3cret" not in repr(config.http)
    assert config.history.retention == 90 * 86400.0


def test_peers_may_be_a_list_of_addresses(folder: Path) -> None:
    text = MINIMAL + "http:\n  peers: [10.0.0.7:9464, '[fd00::7]:9464']\n"
    config = load_config(write(folder, text))
    assert config.http.peers == ("10.0.0.7:9464", "[fd00::7]:9464")


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ("http:\n  peers: sentinel-peers\n", "http.peers: must be host:port such as"),
        ("http:\n  peers: [a:99999]\n", "http.peers: must be host:port"),
        ("http:\n  peer_timeout: soon\n", "http.peer_timeout: "),
        ("http:\n  basic_auth: {password: x}\n", "http.basic_auth.username: is required"),
        ("http:\n  basic_auth: {username: a}\n", "http.basic_auth.password: is required"),
        (
            "http:\n  basic_auth: {username: a, password_env: NO_SUCH_VARIABLE_HERE}\n",
            "http.basic_auth.password_env: environment variable NO_SUCH_VARIABLE_HERE is not set",
        ),
        ("http:\n  basic_auth: {username: 'a:b', password: x}\n", "without a colon"),
        ("http:\n  basic_auth: {username: a, password: ''}\n", "must not be empty"),
        ("http:\n  basic_auth: {username: a, pasword: x}\n", "did you mean 'password'"),
        ("history:\n  retention: forever\n", "history.retention: "),
        ("history:\n  retain: 1d\n", "history.retain: unknown key"),
    ],
)
def test_a_wrong_value_names_its_key(folder: Path, section: str, named: str) -> None:
    message = refused(folder, MINIMAL + section)
    assert message.startswith(f"{folder / 'sentinel.yaml'}: ")
    assert named in message
