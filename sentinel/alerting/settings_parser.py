"""The `alerting:` section of the config file, read once and validated (contract section 9); each
sink's section is read by its own parser, for every sink of `sinks.SINKS`."""

from __future__ import annotations

import string
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from sentinel.alerting import sinks
from sentinel.alerting.settings import (
    DEFAULT_ALERT_ON,
    AlertingSettings,
    Escalation,
    ExpectationAlerting,
    Silence,
    SinkSettings,
)
from sentinel.alerting.sinks.base import check_http_url
from sentinel.configkit import Section
from sentinel.core.durations import format_duration
from sentinel.core.engine.findings import Kind
from sentinel.core.errors import ConfigError
from sentinel.core.timefmt import format_rfc3339, parse_rfc3339

URL_FIELDS = frozenset({"expectation", "rollout", "owner", "step"})
DEFAULTS = AlertingSettings()
# Telling people again more often than this is noise, not a reminder.
REMINDER_MINIMUM = 60.0
# AlertingSettings is what parse_alerting returns: `sentinel.config` imports both from here.
__all__ = ["AlertingSettings", "load_silences_file", "parse_alerting", "parse_silence"]


def parse_alerting(section: Section) -> AlertingSettings:
    """Read `alerting:`; every unknown key and every wrong value is a ConfigError naming it."""
    section = _with_timestamps_as_text(section)
    grouping = section.section("grouping")
    retry = section.section("retry")
    settings = AlertingSettings(
        sinks=_sinks(section),
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
        renotify_after=_reminder_time(
            section, "renotify_after", section.duration("renotify_after", DEFAULTS.renotify_after)
        ),
        escalate=_escalation(section),
    )
    for sub in (grouping, retry):
        sub.done()
    section.done()
    if settings.retry_max < settings.retry_initial:
        raise section.fail("retry", "max must be at least initial")
    if settings.escalate is not None and not any(
        sinks.sink_of(sink).escalate is not None for sink in settings.sinks
    ):
        able = ", ".join(f"{sink.key}:" for sink in sinks.SINKS if sink.escalate is not None)
        raise section.fail("escalate", f"needs a sink that posts in a channel ({able})")
    return settings


def _reminder_time(section: Section, key: str, seconds: float | None) -> float | None:
    """A re-notification or escalation time, refused below REMINDER_MINIMUM."""
    if seconds is not None and seconds < REMINDER_MINIMUM:
        raise section.fail(key, f"must be at least {format_duration(REMINDER_MINIMUM)}")
    return seconds


def _escalation(section: Section) -> Escalation | None:
    sub = section.section("escalate")  # read even when absent: a typo then gets a hint
    if not section.has("escalate"):
        return None
    escalation = sub.read(Escalation)
    _reminder_time(sub, "after", escalation.after)
    return escalation


def _sinks(section: Section) -> tuple[SinkSettings, ...]:
    """Each sink of SINKS that has its section (or list) here, read by the sink's own parser."""
    configured: list[SinkSettings] = []
    # A sink of a list is named by its `name:`, which may not be another sink's.
    taken = {sink.name for sink in sinks.SINKS if sink.list_key is None}
    for sink in sinks.SINKS:
        if sink.list_key is None:
            sub = section.section(sink.name)  # read even when absent: a typo then gets a hint
            if section.has(sink.name):
                configured.append(sink.parse(sub, sink.name))
            continue
        for index, sub in enumerate(section.sections(sink.list_key)):
            item = sink.parse(sub, sink.name if index == 0 else f"{sink.name}-{index}")
            if item.name in taken:
                raise sub.fail("name", f"{item.name!r} is already the name of another sink")
            taken.add(item.name)
            configured.append(item)
    return tuple(configured)


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
    check_http_url(section, key, template)
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
