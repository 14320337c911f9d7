"""The alerter as `sentinel run` builds it: read from the config file, its outbox in the state
store, so that alerts are kept exactly when the batch that raised them is."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sentinel.alerting.alerter import Alerter
from sentinel.config import load_config
from sentinel.runtime.wiring import build_watcher
from sentinel.store.memory import MemoryStore
from sentinel.store.sqlite import SqliteStore

from .fakes import FakeSlack
from .helpers import eventually, sending, stall, view, views_of

SHIPPED = Path(__file__).resolve().parents[2] / "expectations"


class Crash(Exception):
    """The process dies in the middle of a batch."""


def alerting_of(config_path: Path) -> tuple[Alerter, SqliteStore | MemoryStore]:
    watcher = build_watcher(load_config(config_path))
    alerter, store = watcher.pipeline.alerts, watcher.store
    assert isinstance(alerter, Alerter)
    assert isinstance(store, SqliteStore | MemoryStore)
    return alerter, store


def write_config(folder: Path, slack_url: str, state: bool = True) -> Path:
    (folder / "silences.yaml").write_text("[]\n")
    config = folder / "sentinel.yaml"
    config.write_text(
        f"expectations: {SHIPPED}\n"
        f"schemas: {SHIPPED / 'schemas'}\n"
        "kafka: {topics: [rollout.events]}\n"
        + ("state: {path: state.db}\n" if state else "")
        + "alerting:\n"
        "  silences_file: silences.yaml\n"
        "  grouping: {window: 0.2}\n"
        "  slack:\n"
        "    token_env: TEST_SLACK_TOKEN\n"
        f"    base_url: {slack_url}\n"
        "    default_channel: '#rollouts'\n"
    )
    return config


async def test_alerts_are_kept_with_the_batch_that_raised_them(
    tmp_path: Path, slack_api: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SLACK_TOKEN", slack_api.token)
    path = write_config(tmp_path, slack_api.base_url)
    alerter, store = alerting_of(path)
    assert isinstance(store, SqliteStore)
    assert alerter.status()["slack"]["pending"] == 0

    # A batch that is never committed (a crash): its alerts are gone with it.
    with pytest.raises(Crash), store.transaction():
        alerter.accept([stall("lost")], views_of(view("lost")), time.time())
        raise Crash
    store.close()

    alerter, store = alerting_of(path)
    assert alerter.status()["slack"]["pending"] == 0
    with store.transaction():
        alerter.accept([stall("kept")], views_of(view("kept")), time.time())
    async with sending(alerter):
        await eventually(lambda: len(slack_api.messages) == 1)
    assert "rollout kept" in slack_api.messages[0].text
    store.close()


def test_without_a_state_file_the_outbox_lives_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SLACK_TOKEN", "xoxb-1")
    alerter, store = alerting_of(write_config(tmp_path, "http://127.0.0.1:9/api/", state=False))
    assert isinstance(store, MemoryStore)
    alerter.accept([stall()], views_of(view()), time.time())
    assert alerter.status()["slack"]["pending"] == 1
    assert not list(tmp_path.glob("*.db"))
    store.close()
