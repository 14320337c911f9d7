"""The `alerting:` section: the documented example reads, and every mistake names its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sentinel.alerting.settings import DEFAULT_ALERT_ON
from sentinel.alerting.settings_parser import load_silences_file, parse_alerting
from sentinel.alerting.sinks.alertmanager import AlertmanagerSettings
from sentinel.alerting.sinks.pagerduty import PagerDutySettings
from sentinel.alerting.sinks.slack import SlackSettings
from sentinel.alerting.sinks.slack_webhook import SlackWebhookSettings
from sentinel.alerting.sinks.teams import TeamsSettings
from sentinel.alerting.sinks.webhook import WebhookSettings
from sentinel.configkit import Section
from sentinel.core.engine.findings import Kind
from sentinel.core.errors import ConfigError
from sentinel.core.timefmt import parse_rfc3339

from .helpers import documented_settings


def read(text: str, source: str = "config") -> Any:
    raw = yaml.safe_load(text)
    return parse_alerting(Section(raw, "alerting", source))


def test_the_example_in_the_docs_reads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = documented_settings(monkeypatch, tmp_path)
    slack, slack_webhook, webhook, alertmanager, pagerduty, teams = settings.sinks
    assert isinstance(slack, SlackSettings)
    assert slack.token == "xoxb-1"
    assert slack.channels == {"team-identity": "#identity-oncall"}
    assert isinstance(slack_webhook, SlackWebhookSettings)
    assert isinstance(webhook, WebhookSettings)
    assert webhook.secret == "s3cret"
    assert isinstance(alertmanager, AlertmanagerSettings)
    assert isinstance(pagerduty, PagerDutySettings)
    assert pagerduty.routing_key == "R0UT1NGKEY0123456789ABCDEFGHIJKL"
    assert isinstance(teams, TeamsSettings)
    assert settings.sink_names == (
        "slack",
        "slack_webhook",
        "webhook",
        "alertmanager",
        "pagerduty",
        "teams",
    )
    assert settings.for_expectation("checkout-v3").shadow is True
    assert settings.silences[0].until == parse_rfc3339("2030-06-01T12:00:00Z")
    assert settings.silences_file == tmp_path / "silences.yaml"  # next to the config file


def test_without_keys_nothing_alerts_and_defaults_apply() -> None:
    settings = read("{}")
    assert settings.sink_names == ()
    assert settings.alert_on == DEFAULT_ALERT_ON
    assert Kind.COMPLETED not in settings.alert_on
    assert (settings.window, settings.max_messages, settings.event_interval) == (10, 3, 600)


def test_the_slack_token_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT", "xoxb-env")
    settings = read(
        "slack: {token_env: BOT, default_channel: '#r', base_url: 'http://127.0.0.1:9/api'}"
    )
    [slack] = settings.sinks
    assert isinstance(slack, SlackSettings)
    assert slack.token == "xoxb-env"
    assert slack.base_url == "http://127.0.0.1:9/api/"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("slak: {}", "config: alerting.slak: unknown key (did you mean 'slack'?)"),
        (
            "slack: {token: x, default_channel: '#r', chanels: {}}",
            "config: alerting.slack.chanels: unknown key (did you mean 'channels'?)",
        ),
        (
            "slack: {token_env: NOT_SET_ANYWHERE, default_channel: '#r'}",
            "config: alerting.slack.token_env: environment variable NOT_SET_ANYWHERE is not set",
        ),
        (
            "slack: {default_channel: '#r'}",
            "config: alerting.slack.token: is required (or token_env: VARIABLE_NAME)",
        ),
        ("slack: {token: x}", "config: alerting.slack.default_channel: is required"),
        (
            "webhooks: [{url: 'ftp://x'}]",
            "config: alerting.webhooks[0].url: must be an http:// or https:// URL",
        ),
        (
            "webhooks: [{url: 'http://a'}, {url: 'http://b', name: webhook}]",
            "config: alerting.webhooks[1].name: 'webhook' is already the name of another sink",
        ),
        ("alert_on: [stall, stalled]", "config: alerting.alert_on: unknown finding kind 'stalled'"),
        ("grouping: {window: soon}", "config: alerting.grouping.window: 'soon' is not a duration"),
        (
            "grouping: {max_messages: 0}",
            "config: alerting.grouping.max_messages: must be a whole number of at least 1",
        ),
        ("retry: {initial: 10s, max: 1s}", "config: alerting.retry: max must be at least initial"),
        ("timezone: Mars/Olympus", "config: alerting.timezone: unknown time zone 'Mars/Olympus'"),
        (
            "runbook_url: 'https://r/{team}'",
            "config: alerting.runbook_url: unknown placeholder {team}",
        ),
        (
            "expectations: {x: {mode: quiet}}",
            "config: alerting.expectations.x.mode: must be one of alert, shadow, not 'quiet'",
        ),
        (
            "silences: [{until: 2030-01-01T00:00:00Z}]",
            "config: alerting.silences[0].expectation: a silence needs an expectation, an owner",
        ),
        (
            "silences: [{owner: a, until: tomorrow}]",
            "config: alerting.silences[0].until: not an RFC 3339 timestamp",
        ),
        (
            "silences: [{owner: a, until: 2030-01-01T00:00:00}]",
            "config: alerting.silences[0].until: needs a UTC offset",
        ),
    ],
)
def test_a_mistake_is_reported_with_the_key_that_holds_it(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read(text)
    assert str(caught.value).startswith(message)


def test_a_silences_file_holds_a_list_and_may_not_exist_yet(tmp_path: Path) -> None:
    path = tmp_path / "silences.yaml"
    assert load_silences_file(path) == ()
    path.write_text("- {owner: team-a, until: '2030-01-01T00:00:00Z', comment: migration}\n")
    [silence] = load_silences_file(path)
    assert (silence.owner, silence.expectation, silence.comment) == ("team-a", None, "migration")
    path.write_text("owner: team-a\n")
    with pytest.raises(ConfigError, match="must be a list of silences"):
        load_silences_file(path)
