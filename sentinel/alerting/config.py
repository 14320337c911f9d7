"""The `alerting:` section of the config file, read once and validated (contract section 9)."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from sentinel.configkit import Section
from sentinel.errors import ConfigError
from sentinel.findings import GOOD_KINDS, Finding, Kind
from sentinel.timefmt import format_rfc3339, parse_rfc3339

# By default every problem alerts; completed/recovered/rolled_back only resolve earlier alerts.
DEFAULT_ALERT_ON = frozenset(kind for kind in Kind if kind not in GOOD_KINDS)
URL_FIELDS = frozenset({"expectation", "rollout", "owner", "step"})


@dataclass(frozen=True, slots=True)
class SlackSettings:
    """A Slack bot: threads per rollout, the parent message kept current with chat.update."""

    token: str
    default_channel: str
    channels: Mapping[str, str] = field(default_factory=dict)  # owner -> channel
    base_url: str = "https://slack.com/api/"
    timeout: float = 10.0
    name: str = "slack"


@dataclass(frozen=True, slots=True)
class SlackWebhookSettings:
    """A Slack incoming webhook: one channel, no threads, no updates."""

    url: str
    timeout: float = 10.0
    name: str = "slack_webhook"


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """A generic webhook: the finding's JSON, signed when a secret is given."""

    url: str
    secret: str | None = None
    timeout: float = 10.0
    name: str = "webhook"


@dataclass(frozen=True, slots=True)
class AlertmanagerSettings:
    """An Alertmanager: firing alerts are re-sent every `resend_interval` until resolved."""

    url: str
    resend_interval: float = 60.0
    timeout: float = 10.0
    name: str = "alertmanager"


@dataclass(frozen=True, slots=True)
class Silence:
    """No new alerts for an expectation and/or an owner until a time."""

    until: float
    expectation: str | None = None
    owner: str | None = None
    comment: str | None = None

    def matches(self, finding: Finding, now: float) -> bool:
        if now >= self.until:
            return False
        if self.expectation is not None and finding.expectation != self.expectation:
            return False
        return self.owner is None or finding.owner == self.owner


@dataclass(frozen=True, slots=True)
class ExpectationAlerting:
    """Per-expectation overrides: shadow mode and links."""

    shadow: bool = False
    dashboard_url: str | None = None
    runbook_url: str | None = None


@dataclass(frozen=True, slots=True)
class AlertingSettings:
    """Everything the alerter needs; times are seconds."""

    slack: SlackSettings | None = None
    slack_webhook: SlackWebhookSettings | None = None
    webhooks: tuple[WebhookSettings, ...] = ()
    alertmanager: AlertmanagerSettings | None = None
    alert_on: frozenset[Kind] = DEFAULT_ALERT_ON
    window: float = 10.0
    max_messages: int = 3
    event_interval: float = 600.0
    retry_initial: float = 1.0
    retry_max: float = 300.0
    timezone: str = "UTC"
    dashboard_url: str | None = None
    runbook_url: str | None = None
    expectations: Mapping[str, ExpectationAlerting] = field(default_factory=dict)
    silences: tuple[Silence, ...] = ()
    silences_file: Path | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def human_sinks(self) -> frozenset[str]:
        """The sinks people read (Slack): they get grouping windows and event digests."""
        return frozenset(sink.name for sink in (self.slack, self.slack_webhook) if sink is not None)

    @property
    def sink_names(self) -> tuple[str, ...]:
        names = [sink.name for sink in (self.slack, self.slack_webhook) if sink is not None]
        names.extend(hook.name for hook in self.webhooks)
        if self.alertmanager is not None:
            names.append(self.alertmanager.name)
        return tuple(names)

    def for_expectation(self, name: str | None) -> ExpectationAlerting:
        return self.expectations.get(name or "", _NO_OVERRIDES)


_NO_OVERRIDES = ExpectationAlerting()


def parse_alerting(section: Section) -> AlertingSettings:
    """Read `alerting:`; every unknown key and every wrong value is a ConfigError naming it."""
    section = _with_timestamps_as_text(section)
    grouping = section.section("grouping")
    retry = section.section("retry")
    slack, slack_webhook, alertmanager = (
        _optional(section, name) for name in ("slack", "slack_webhook", "alertmanager")
    )
    settings = AlertingSettings(
        slack=None if slack is None else _slack(slack),
        slack_webhook=None if slack_webhook is None else _slack_webhook(slack_webhook),
        webhooks=_webhooks(section.sections("webhooks")),
        alertmanager=None if alertmanager is None else _alertmanager(alertmanager),
        alert_on=_kinds(section, "alert_on"),
        window=grouping.duration("window", 10.0),
        max_messages=grouping.integer("max_messages", 3, minimum=1),
        event_interval=grouping.duration("event_interval", 600.0),
        retry_initial=retry.duration("initial", 1.0),
        retry_max=retry.duration("max", 300.0),
        timezone=_timezone(section),
        dashboard_url=_url_template(section, "dashboard_url"),
        runbook_url=_url_template(section, "runbook_url"),
        expectations=_expectations(section.section("expectations")),
        silences=tuple(
            parse_silence(_with_timestamps_as_text(item)) for item in section.sections("silences")
        ),
        silences_file=_silences_file(section),
    )
    for sub in (grouping, retry):
        sub.done()
    section.done()
    if settings.retry_max < settings.retry_initial:
        raise section.fail("retry", "max must be at least initial")
    return settings


def _optional(section: Section, key: str) -> Section | None:
    sub = section.section(key)  # read even when absent: a typo of it then gets a hint
    return sub if section.has(key) else None


def parse_silence(section: Section) -> Silence:
    """One silence: `until` (RFC 3339) and at least one of `expectation` and `owner`."""
    until_text = section.string("until")
    try:
        until = parse_rfc3339(until_text)
    except ValueError as error:
        raise section.fail("until", f"{error}; write e.g. 2025-06-01T12:00:00Z") from None
    silence = Silence(
        until=until,
        expectation=section.string("expectation", None),
        owner=section.string("owner", None),
        comment=section.string("comment", None),
    )
    section.done()
    if silence.expectation is None and silence.owner is None:
        raise section.fail("expectation", "a silence needs an expectation, an owner or both")
    return silence


def load_silences_file(path: Path) -> tuple[Silence, ...]:
    """Silences from a YAML file holding a list of silences; a missing file means none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the silences file: {error.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: must be a list of silences (- until: ..., expectation: ...)")
    return tuple(
        parse_silence(_with_timestamps_as_text(Section(item, f"[{index}]", str(path))))
        for index, item in enumerate(raw)
    )


def _with_timestamps_as_text(section: Section) -> Section:
    # YAML reads an unquoted 2025-06-01T12:00:00Z as a datetime; silences want it as written.
    if not any(isinstance(value, datetime) for value in section.raw.values()):
        return section
    raw: dict[Any, Any] = {}
    for key, value in section.raw.items():
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise section.fail(str(key), "needs a UTC offset, e.g. 2025-06-01T12:00:00Z")
            raw[key] = format_rfc3339(value.timestamp())
        else:
            raw[key] = value
    return Section(raw, section.path, section.source)


def _slack(section: Section) -> SlackSettings:
    base_url = section.string("base_url", "https://slack.com/api/")
    settings = SlackSettings(
        token=_required_secret(section, "token"),
        default_channel=section.string("default_channel"),
        channels=section.str_map("channels"),
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        timeout=section.duration("timeout", 10.0),
    )
    _check_http_url(section, "base_url", settings.base_url)
    section.done()
    return settings


def _slack_webhook(section: Section) -> SlackWebhookSettings:
    settings = SlackWebhookSettings(
        url=_required_secret(section, "url"), timeout=section.duration("timeout", 10.0)
    )
    _check_http_url(section, "url", settings.url)
    section.done()
    return settings


def _webhooks(sections: list[Section]) -> tuple[WebhookSettings, ...]:
    hooks: list[WebhookSettings] = []
    for index, section in enumerate(sections):
        default_name = "webhook" if index == 0 else f"webhook-{index}"
        hook = WebhookSettings(
            url=_required_secret(section, "url"),
            secret=section.secret("secret"),
            timeout=section.duration("timeout", 10.0),
            name=section.string("name", default_name),
        )
        _check_http_url(section, "url", hook.url)
        section.done()
        taken = {other.name for other in hooks} | {"slack", "slack_webhook", "alertmanager"}
        if hook.name in taken:
            raise section.fail("name", f"{hook.name!r} is already the name of another sink")
        hooks.append(hook)
    return tuple(hooks)


def _alertmanager(section: Section) -> AlertmanagerSettings:
    settings = AlertmanagerSettings(
        url=_required_secret(section, "url").rstrip("/"),
        resend_interval=section.duration("resend_interval", 60.0),
        timeout=section.duration("timeout", 10.0),
    )
    _check_http_url(section, "url", settings.url)
    section.done()
    return settings


def _required_secret(section: Section, key: str) -> str:
    value = section.secret(key, required=True)
    assert value is not None  # required=True raises instead
    return value


def _check_http_url(section: Section, key: str, url: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise section.fail(key, "must be an http:// or https:// URL")


def _kinds(section: Section, key: str) -> frozenset[Kind]:
    names = section.str_list(key, None)
    if names is None:
        return DEFAULT_ALERT_ON
    known = {str(kind) for kind in Kind}
    for name in names:
        if name not in known:
            raise section.fail(key, f"unknown finding kind {name!r}; known: {', '.join(known)}")
    return frozenset(Kind(name) for name in names)


def _timezone(section: Section) -> str:
    name: str = section.string("timezone", "UTC")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise section.fail("timezone", f"unknown time zone {name!r}; write e.g. UTC") from None
    return name


def _url_template(section: Section, key: str) -> str | None:
    template: str | None = section.string(key, None)
    if template is None:
        return None
    _check_http_url(section, key, template)
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        raise section.fail(key, f"is not a valid template: {error}") from None
    unknown = fields - URL_FIELDS
    if unknown:
        raise section.fail(
            key,
            f"unknown placeholder {{{sorted(unknown)[0]}}}; "
            f"use {', '.join('{' + name + '}' for name in sorted(URL_FIELDS))}",
        )
    return template


def _expectations(section: Section) -> dict[str, ExpectationAlerting]:
    result = {}
    for name in section.raw:
        sub = section.section(str(name))
        result[str(name)] = ExpectationAlerting(
            shadow=sub.choice("mode", ("alert", "shadow"), "alert") == "shadow",
            dashboard_url=_url_template(sub, "dashboard_url"),
            runbook_url=_url_template(sub, "runbook_url"),
        )
        sub.done()
    return result


def _silences_file(section: Section) -> Path | None:
    text = section.string("silences_file", None)
    if text is None:
        return None
    path = Path(text).expanduser()
    source = Path(section.source)
    if not path.is_absolute() and source.is_absolute():
        path = source.parent / path  # like every path in the config: next to the config file
    load_silences_file(path)  # refuse a broken file at start; later edits are re-read live
    return path
