"""Builders for the alerting tests: findings, rollout views, settings, and a running sender."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from sentinel.alerting.alerter import Alerter
from sentinel.alerting.settings import AlertingSettings, SinkSettings
from sentinel.alerting.settings_parser import parse_alerting
from sentinel.alerting.sinks.slack import SlackSettings
from sentinel.configkit import Section
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.snapshots import Phase, RolloutView, StepStatus
from sentinel.core.timefmt import parse_rfc3339
from sentinel.runtime.metrics import Metrics
from sentinel.runtime.metrics_observer import MetricsObserver
from sentinel.store.sqlite_outbox import SqliteOutbox

DOCS = Path(__file__).resolve().parents[2] / "docs" / "alerting.md"
T0 = parse_rfc3339("2025-06-01T10:00:00Z")
MIN = 60.0
EXPECTATION = "user-service-v2"
OWNER = "team-identity"


def view(
    rollout: str = "42",
    *,
    running_seen: float | None = None,
    messaging_seen: float | None = None,
    phase: Phase = Phase.OPEN,
    stalled: bool = True,
) -> RolloutView:
    """The contract's example: SchemaV2_Ready at 10:00, UserServiceV2_Running due by 10:10."""
    running_due = T0 + 10 * MIN
    return RolloutView(
        expectation=EXPECTATION,
        rollout=rollout,
        owner=OWNER,
        phase=phase,
        opened_at=T0,
        deadline_at=T0 + 30 * MIN,
        steps=(
            StepStatus("SchemaV2_Ready", None, (), T0, None, False),
            StepStatus(
                "UserServiceV2_Running",
                "team-users",
                ("SchemaV2_Ready",),
                running_seen,
                running_due,
                stalled,
            ),
            StepStatus(
                "MessagingService_Reconfigured",
                None,
                ("UserServiceV2_Running",),
                messaging_seen,
                None if running_seen is None else running_seen + 5 * MIN,
                False,
            ),
        ),
    )


def stall(rollout: str = "42", step: str = "UserServiceV2_Running", **extra: Any) -> Finding:
    fields: dict[str, Any] = {
        "kind": Kind.STALL,
        "at": T0 + 10 * MIN,
        "expectation": EXPECTATION,
        "rollout": rollout,
        "step": step,
        "owner": OWNER,
        "deadline": T0 + 10 * MIN,
    }
    fields.update(extra)
    return Finding(**fields)


def recovered(rollout: str = "42", at: float = T0 + 12 * MIN) -> Finding:
    return Finding(Kind.RECOVERED, at, EXPECTATION, rollout, "UserServiceV2_Running", owner=OWNER)


def completed(rollout: str = "42", at: float = T0 + 15 * MIN) -> Finding:
    return Finding(Kind.COMPLETED, at, EXPECTATION, rollout, owner=OWNER, duration_s=at - T0)


def schema_violation(event_id: str, event_type: str = "OrderPlaced") -> Finding:
    return Finding(
        Kind.SCHEMA_VIOLATION,
        T0,
        event_type=event_type,
        event_id=event_id,
        event_source="orders",
        errors=("'amount' is a required property",),
    )


def views_of(*views: RolloutView) -> Callable[[str, str], RolloutView | None]:
    known = {(v.expectation, v.rollout): v for v in views}
    return lambda expectation, rollout: known.get((expectation, rollout))


def slack_settings(
    base_url: str, token: str = "xoxb-good", others: tuple[SinkSettings, ...] = (), **extra: Any
) -> AlertingSettings:
    """Small windows and back-offs, so that tests wait tenths of seconds, not minutes; `others`
    are sinks configured beside the Slack bot."""
    slack = SlackSettings(
        token=token,
        base_url=base_url,
        default_channel="#rollouts",
        channels={OWNER: "#identity-oncall"},
        timeout=2.0,
    )
    fields: dict[str, Any] = {
        "sinks": (slack, *others),
        "window": 0.2,
        "retry_initial": 0.1,
        "retry_max": 0.4,
    }
    fields.update(extra)
    return AlertingSettings(**fields)


def documented_settings(monkeypatch: pytest.MonkeyPatch, folder: Path) -> AlertingSettings:
    """The `alerting:` example of docs/alerting.md, read from a config file in `folder`, with
    the secrets it names in the environment."""
    example = re.search(r"```yaml\n(alerting:.*?)```", DOCS.read_text(), re.DOTALL)
    assert example is not None
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/X")
    monkeypatch.setenv("SENTINEL_WEBHOOK_SECRET", "s3cret")
    monkeypatch.setenv("PD_ROUTING_KEY", "R0UT1NGKEY0123456789ABCDEFGHIJKL")
    monkeypatch.setenv(
        "TEAMS_WORKFLOW_URL", "https://prod-00.westeurope.logic.azure.com/workflows/abc/invoke"
    )
    config = folder / "sentinel.yaml"
    config.write_text(example.group(1))
    raw = yaml.safe_load(config.read_text())["alerting"]
    return parse_alerting(Section(raw, "alerting", str(config)))


def metrics() -> MetricsObserver:
    """Alerting's observer as the watcher has it, on a registry of its own."""
    return MetricsObserver(Metrics(CollectorRegistry()), ())


def sample(m: MetricsObserver, name: str, **labels: str) -> float:
    value = m.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def alerter(
    settings: AlertingSettings,
    outbox: SqliteOutbox | None = None,
    m: MetricsObserver | None = None,
) -> Alerter:
    return Alerter(settings, outbox or SqliteOutbox(":memory:"), m)


@asynccontextmanager
async def sending(alerter: Alerter) -> AsyncIterator[None]:
    """The sender running for the duration of the block, stopped cleanly after."""
    stop = asyncio.Event()
    task = asyncio.create_task(alerter.run_sender(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def eventually(check: Callable[[], bool], within: float = 15.0) -> None:
    """Wait until `check()` holds; fail after `within` seconds (generous: a loaded CI machine
    may take seconds for what takes milliseconds here; a wait that holds costs nothing)."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {within}s: {check}")
        await asyncio.sleep(0.02)


async def settle(seconds: float = 0.5) -> None:
    """Give the sender time to do what it should not do (post twice, retry forever)."""
    await asyncio.sleep(seconds)
