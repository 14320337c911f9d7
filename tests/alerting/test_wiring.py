"""The alerter as `sentinel run` builds it: read from the config file, its outbox in the state
store, so that alerts are kept exactly when the batch that raised them is."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sentinel.alerting.wiring import build_alerter
from sentinel.config import load_config
from sentinel.engine import EngineChanges
from sentinel.store.open import open_store
from sentinel.store.sqlite import SqliteStore

from .fakes import FakeSlack
from .helpers import eventually, metrics, sending, stall, view, views_of

NO_CHANGES = EngineChanges({}, [], [], float("-inf"), float("-inf"))


def write_config(folder: Path, slack_url: str, state: bool = True) -> Path:
    (folder / "expectations").mkdir()
    (folder / "schemas").mkdir()
    (folder / "silences.yaml").write_text("[]\n")
    config = folder / "sentinel.yaml"
    config.write_text(
        "expectations: expectations\n"
        "schemas: schemas\n"
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
    config = load_config(write_config(tmp_path, slack_api.base_url))
    store = open_store(config)
    assert isinstance(store, SqliteStore)
    alerter = build_alerter(config, store, metrics())
    assert alerter.status()["slack"]["pending"] == 0
    assert config.alerting is not None

    # A batch that is never committed (a crash): its alerts are gone with it.
    store.begin()
    alerter.accept([stall("lost")], views_of(view("lost")), time.time())
    store.close()

    store = open_store(config)
    alerter = build_alerter(config, store, metrics())
    assert alerter.status()["slack"]["pending"] == 0
    store.begin()
    alerter.accept([stall("kept")], views_of(view("kept")), time.time())
    store.commit(NO_CHANGES, [], {})
    async with sending(alerter):
        await eventually(lambda: len(slack_api.messages) == 1)
    assert "rollout kept" in slack_api.messages[0].text
    store.close()


def test_without_a_state_file_the_outbox_lives_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SLACK_TOKEN", "xoxb-1")
    config = load_config(write_config(tmp_path, "http://127.0.0.1:9/api/", state=False))
    store = open_store(config)
    alerter = build_alerter(config, store, metrics())
    alerter.accept([stall()], views_of(view()), time.time())
    assert alerter.status()["slack"]["pending"] == 1
    assert not list(tmp_path.glob("*.db"))
    store.close()
