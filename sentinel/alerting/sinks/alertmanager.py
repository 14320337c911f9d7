"""The Alertmanager sink (`alertmanager:`): alerts whose labels come from the finding, firing
until a recovery or the rollout's end sends them again with `endsAt`. The plan and render are
pure; the transport does the I/O.

A firing alert is stored and sent without `endsAt`; the sender stamps one a few resend intervals
ahead each time it (re)sends, as Prometheus does, so Alertmanager keeps it firing exactly as long
as the sentinel says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sentinel.alerting.alert_words import describe, event_summary, links, title
from sentinel.alerting.drill import TEST_LIFETIME, TEST_SENTENCE, TEST_TITLE
from sentinel.alerting.grouper import Context, EventGroup, Plan, RolloutGroup, remember
from sentinel.alerting.sinks.base import Sink, check_http_url, one_lane_item
from sentinel.alerting.sinks.httpkit import JsonPost, dump
from sentinel.configkit import SECRET, Section
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.kinds import KINDS
from sentinel.core.engine.snapshots import RolloutView
from sentinel.core.ports.outbox import (
    NOISE_PRIORITY,
    Item,
    Outbox,
    Thread,
)
from sentinel.core.printable import printable
from sentinel.core.timefmt import format_rfc3339

API_PATH = "/api/v2/alerts"


@dataclass(frozen=True, slots=True)
class AlertmanagerSettings:
    """An Alertmanager: firing alerts are re-sent every `resend_interval` until resolved."""

    url: str = field(metadata=SECRET)
    resend_interval: float = 60.0
    timeout: float = 10.0
    name: str = field(default="alertmanager", metadata={"given": True})


def parse(section: Section, name: str) -> AlertmanagerSettings:
    settings = section.read(AlertmanagerSettings, name=name)
    settings = replace(settings, url=settings.url.rstrip("/"))
    check_http_url(section, "url", settings.url)
    return settings


def plan(
    rollouts: Sequence[RolloutGroup],
    events: Sequence[EventGroup],
    threads: Mapping[str, Thread],
    ctx: Context,
) -> Plan:
    """Fire an alert per problem; resolve a stall when its step recovers and every alert of a
    rollout when it completes or rolls back. Event-level alerts end by themselves."""
    result = Plan()
    for rollout in rollouts:
        known = threads.get(rollout.key)
        if known is None and not rollout.opens:
            continue
        firing = {_identity(alert): alert for alert in (known.firing if known else ())}
        for finding in rollout.findings:
            alerts = _changes(finding, rollout.view, firing, ctx)
            if alerts:
                result.items.append(
                    one_lane_item([finding], rollout.held_at, ctx, {"alerts": alerts}, "alerts")
                )
        thread = remember(rollout, known, ctx)
        result.threads[rollout.key] = replace(thread, firing=tuple(firing.values()))
    for group in events:
        first = group.findings[0]
        alert = render(first, None, ctx, ends_at=ctx.now + ctx.settings.event_interval)
        alert["annotations"]["summary"] = printable(
            event_summary(group.kind, group.event_type, group.findings, group.count, ctx.tz)
        )
        result.items.append(
            one_lane_item(
                group.findings, group.held_at, ctx, {"alerts": [alert]}, "alerts", NOISE_PRIORITY
            )
        )
    return result


def labels(finding: Finding) -> dict[str, str]:
    """alertname, kind, expectation, rollout, step, owner, severity (and event_type for events),
    the name and severity as sentinel.core.engine.kinds gives them; labels that do not apply
    are left out, as Alertmanager treats empty as absent."""
    spec = KINDS[finding.kind]
    values = {
        "alertname": spec.alertname,
        "kind": str(finding.kind),
        "expectation": finding.expectation,
        "rollout": finding.rollout,
        "step": finding.step,
        "owner": finding.owner,
        "event_type": None if finding.rollout else finding.event_type,
        "severity": spec.severity,
    }
    return {name: value for name, value in values.items() if value}


def render(
    finding: Finding, view: RolloutView | None, ctx: Context, ends_at: float | None = None
) -> dict[str, Any]:
    """One alert of the Alertmanager v2 API; without `ends_at` it is firing."""
    dashboard, runbook = links(ctx.settings, finding)
    summary = title(finding.kind)
    if finding.rollout:
        summary += f": {finding.expectation} rollout {finding.rollout}"
    description = describe(finding, view, ctx.tz)
    # Text for people (amtool prints it in a terminal): control characters shown, not obeyed.
    annotations = {"summary": printable(summary), "description": printable(description)}
    if runbook:
        annotations["runbook_url"] = runbook
    if dashboard:
        annotations["dashboard_url"] = dashboard
    # The rollout's trace (contract section 13): annotations, never labels, which identify
    # the alert (and a link made at the time of each finding would split it in two).
    if finding.trace_id:
        annotations["trace_id"] = finding.trace_id
    if finding.trace_url:
        annotations["trace_url"] = finding.trace_url
    alert: dict[str, Any] = {
        "labels": labels(finding),
        "annotations": annotations,
        "startsAt": format_rfc3339(finding.at),
    }
    if dashboard:
        alert["generatorURL"] = dashboard
    if ends_at is not None:
        alert["endsAt"] = format_rfc3339(ends_at)
    return alert


def mark_test(settings: AlertmanagerSettings, item: Item, now: float) -> Item:
    """The test alert (`sentinel alerts test`): labelled `test="true"`, so that a route or an
    inhibition can tell it apart, its words the test's, and ending by itself soon."""
    alerts = [
        {
            **alert,
            "labels": {**alert["labels"], "test": "true"},
            "annotations": {
                **alert["annotations"],
                "summary": TEST_TITLE,
                "description": TEST_SENTENCE,
            },
            "endsAt": format_rfc3339(now + TEST_LIFETIME),
        }
        for alert in item.payload["alerts"]
    ]
    return replace(item, payload={**item.payload, "alerts": alerts})


def resolved(alert: Mapping[str, Any], now: float) -> dict[str, Any]:
    return {**alert, "endsAt": format_rfc3339(now)}


def _changes(
    finding: Finding,
    view: RolloutView | None,
    firing: dict[str, Mapping[str, Any]],
    ctx: Context,
) -> list[dict[str, Any]]:
    if finding.is_problem:
        alert = render(finding, view, ctx)
        firing[_identity(alert)] = alert
        return [alert]
    if finding.kind == Kind.RECOVERED:
        ending = [
            key
            for key, alert in firing.items()
            if alert["labels"].get("kind") == Kind.STALL
            and alert["labels"].get("step") == finding.step
        ]
    else:
        ending = list(firing)
    return [resolved(firing.pop(key), ctx.now) for key in ending]


def _identity(alert: Mapping[str, Any]) -> str:
    return json.dumps(alert["labels"], sort_keys=True)


class AlertmanagerTransport(JsonPost):
    """POST /api/v2/alerts; firing alerts are re-sent every `resend_interval`."""

    def __init__(self, settings: AlertmanagerSettings) -> None:
        super().__init__(settings.name, settings.url + API_PATH, settings.timeout)
        self.refresh_interval = settings.resend_interval
        self._resend = settings.resend_interval

    async def deliver(self, item: Item, outbox: Outbox, now: float) -> None:
        await self._post(dump(self._stamped(item.payload["alerts"], now)), {})

    async def refresh(self, outbox: Outbox, now: float) -> None:
        alerts = [alert for thread in outbox.firing(self.name) for alert in thread.firing]
        if alerts:
            await self._post(dump(self._stamped(alerts, now)), {})

    def _stamped(self, alerts: list[Mapping[str, Any]], now: float) -> list[dict[str, Any]]:
        # As Prometheus does: firing until a few resends are missed, then Alertmanager resolves.
        ends = format_rfc3339(now + 4 * self._resend)
        return [{**alert} if "endsAt" in alert else {**alert, "endsAt": ends} for alert in alerts]


SINK = Sink(
    name="alertmanager",
    settings=AlertmanagerSettings,
    parse=parse,
    plan=plan,
    transport=AlertmanagerTransport,
    human=False,
    mark_test=mark_test,
)
