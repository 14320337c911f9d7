"""What the alerting reads from the config: the sinks configured, the grouping and retry times,
the links, shadow mode, silences, re-notification and escalation. Plain data; `config.py` reads
it from the file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from sentinel.core.engine.findings import GOOD_KINDS, Finding, Kind

# By default every problem alerts; completed/recovered/rolled_back only resolve earlier alerts.
DEFAULT_ALERT_ON = frozenset(kind for kind in Kind if kind not in GOOD_KINDS)


class SinkSettings(Protocol):
    """One configured sink's settings (a frozen dataclass of its sink's module): each has the
    name that metrics, `/readyz` and the outbox know it by."""

    @property
    def name(self) -> str: ...


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
class Escalation:
    """`escalate:`: a stall still open `after` it was due is posted once in `channel` too."""

    channel: str
    after: float = 3600.0


@dataclass(frozen=True, slots=True)
class AlertingSettings:
    """Everything the alerter needs; times are seconds."""

    # Each configured sink's settings, in the order of sinks.SINKS (a list's in its order).
    sinks: tuple[SinkSettings, ...] = ()
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
    # An open stall told to people is told again this often (None: never) ...
    renotify_after: float | None = None
    # ... and once in another channel when it stays open this long (None: never).
    escalate: Escalation | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def sink_names(self) -> tuple[str, ...]:
        return tuple(sink.name for sink in self.sinks)

    def for_expectation(self, name: str | None) -> ExpectationAlerting:
        return self.expectations.get(name or "", _NO_OVERRIDES)


_NO_OVERRIDES = ExpectationAlerting()
