"""The PagerDuty sink (`pagerduty:`): Events API v2, one alert per rollout. A rollout's problem
triggers with `dedup_key` = `<expectation>/<rollout>`; the rollout's end, or the recovery of its
last open problem, resolves that key. Event-level findings trigger an alert per kind and event
type (`<kind>:<event_type>`), which PagerDuty or its service's auto-resolve closes: no finding
says they are over. The plan and render are pure; the transport does the I/O.

What PagerDuty is told of a rollout is an `EventAction` on its dedup key: `event_action` decides
it for each finding, `control` writes the body of one without a payload (a resolve). An
acknowledgement (contract section 14) is `control("acknowledge", dedup_key(expectation,
rollout))`, queued in this sink's one lane so that it follows the trigger it answers
(`on_action`)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sentinel.alerting.alert_words import describe, event_summary, links, title
from sentinel.alerting.delivery import DeliveryError, SinkBroken, Transient
from sentinel.alerting.drill import TEST_WORDS
from sentinel.alerting.grouper import Context, EventGroup, Plan, RolloutGroup, remember
from sentinel.alerting.sinks.base import Sink, check_http_url, one_lane_item
from sentinel.alerting.sinks.httpkit import JsonPost, dump, http_error
from sentinel.configkit import SECRET, Section
from sentinel.core.engine.actions import Action, Verb
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.kinds import KINDS, Severity
from sentinel.core.engine.snapshots import RolloutView
from sentinel.core.ports.outbox import NOISE_PRIORITY, Item, Outbox, Thread
from sentinel.core.printable import printable
from sentinel.core.timefmt import format_rfc3339

EventAction = Literal["trigger", "acknowledge", "resolve"]
# The kinds' severities (sentinel/core/engine/kinds.py) as PagerDuty names them.
SEVERITY: Mapping[Severity, str] = {"critical": "critical", "warning": "warning", "info": "info"}
CLIENT = "rollout-sentinel"
# PagerDuty's limits (Events API v2): a longer summary or dedup_key is refused with 400.
SUMMARY_CHARS = 1024
DEDUP_CHARS = 255
# The problems of a rollout PagerDuty is told are open: (kind, step), in Thread.firing.
Problem = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PagerDutySettings:
    """A PagerDuty service's Events API v2 integration, by its routing (integration) key."""

    routing_key: str = field(metadata=SECRET)
    url: str = "https://events.pagerduty.com/v2/enqueue"  # EU: events.eu.pagerduty.com
    timeout: float = 10.0
    name: str = field(default="pagerduty", metadata={"given": True})


def parse(section: Section, name: str) -> PagerDutySettings:
    settings = section.read(PagerDutySettings, name=name)
    check_http_url(section, "url", settings.url)
    return settings


def dedup_key(expectation: str, rollout: str) -> str:
    """One PagerDuty alert per rollout: `<expectation>/<rollout>`, as the outbox keys threads.
    A key beyond PagerDuty's 255 characters keeps its start and a hash of the whole."""
    return _fitted(f"{expectation}/{rollout}")


def event_key(finding: Finding) -> str:
    """One alert per event-level kind and event type: `schema_violation:OrderPlaced`,
    `bus_silent`. An expectation name has no `:`, so it never meets a rollout's key."""
    kind = str(finding.kind)
    return _fitted(f"{kind}:{finding.event_type}" if finding.event_type else kind)


def plan(
    rollouts: Sequence[RolloutGroup],
    events: Sequence[EventGroup],
    threads: Mapping[str, Thread],
    ctx: Context,
) -> Plan:
    """A trigger per problem of a rollout, a resolve when its last open problem recovers or it
    ends; a trigger per event group. Good news about a rollout never alerted sends nothing."""
    result = Plan()
    for rollout in rollouts:
        known = threads.get(rollout.key)
        if known is None and not rollout.opens:
            continue
        key = dedup_key(rollout.expectation, rollout.rollout)
        problems = tuple(known.firing) if known else ()
        for finding in rollout.findings:
            action, problems = event_action(finding, problems)
            if action == "trigger":
                event = trigger(finding, rollout.view, ctx, key)
            elif action is not None:
                event = control(action, key)
            else:
                continue
            # One lane: a resolve never overtakes its trigger.
            payload = {"event": event}
            result.items.append(one_lane_item([finding], rollout.held_at, ctx, payload, action))
        thread = remember(rollout, known, ctx)
        result.threads[rollout.key] = replace(thread, firing=problems)
    for group in events:
        first = group.findings[0]
        event = trigger(first, None, ctx, event_key(first))
        summary = event_summary(group.kind, group.event_type, group.findings, group.count, ctx.tz)
        event["payload"]["summary"] = _summary(f"{summary}: {describe(first, None, ctx.tz)}")
        details = event["payload"]["custom_details"]
        details["count"], details["last_at"] = group.count, format_rfc3339(group.findings[-1].at)
        # Behind the rollouts' alerts in the one lane.
        result.items.append(
            one_lane_item(
                group.findings, group.held_at, ctx, {"event": event}, "trigger", NOISE_PRIORITY
            )
        )
    return result


def event_action(
    finding: Finding, problems: tuple[Problem, ...]
) -> tuple[EventAction | None, tuple[Problem, ...]]:
    """What PagerDuty is told of a rollout's finding, and the problems open after it. A problem
    triggers (PagerDuty adds it to the rollout's open alert); `recovered` closes its step's
    stall and resolves once no problem is left open; the rollout's last finding (`completed`,
    `rolled_back`: a kind that `closes`) resolves whatever is open. None: nothing to tell."""
    if finding.is_problem:
        problem = {"kind": str(finding.kind), "step": finding.step}
        return "trigger", (*[p for p in problems if p != problem], problem)
    if KINDS[finding.kind].closes:
        return ("resolve" if problems else None), ()
    left = tuple(
        p
        for p in problems
        if not (
            finding.kind == Kind.RECOVERED and p["kind"] == Kind.STALL and p["step"] == finding.step
        )
    )
    return ("resolve" if problems and not left else None), left


def trigger(finding: Finding, view: RolloutView | None, ctx: Context, key: str) -> dict[str, Any]:
    """A trigger event (without the routing key, which the transport adds): the summary in the
    words every sink uses, the finding's JSON (its trace too) as custom details, and links."""
    dashboard, runbook = links(ctx.settings, finding)
    summary = title(finding.kind)
    if finding.rollout:
        summary += f": {finding.expectation} rollout {finding.rollout}"
    payload: dict[str, Any] = {
        "summary": _summary(f"{summary}: {describe(finding, view, ctx.tz)}"),
        "source": finding.expectation or finding.event_source or CLIENT,
        "severity": SEVERITY[KINDS[finding.kind].severity],
        "timestamp": format_rfc3339(finding.at),
        "class": str(finding.kind),
        "custom_details": finding.to_json_dict(),
    }
    component = finding.step if finding.rollout else finding.event_type
    for name, value in (("component", component), ("group", finding.owner)):
        if value:
            payload[name] = value
    named = (("Dashboard", dashboard), ("Runbook", runbook), ("Open trace", finding.trace_url))
    event: dict[str, Any] = {
        "event_action": "trigger",
        "dedup_key": key,
        "payload": payload,
        "client": CLIENT,
        "links": [{"href": url, "text": text} for text, url in named if url],
    }
    if dashboard:
        event["client_url"] = dashboard
    return event


def control(action: EventAction, key: str) -> dict[str, Any]:
    """An event about an alert already triggered (`resolve`, `acknowledge`): its key is all."""
    return {"event_action": action, "dedup_key": key}


def on_action(
    action: Action, view: RolloutView, thread: Thread | None, ctx: Context
) -> Sequence[Item]:
    """An acknowledgement (from Slack or the board) of a rollout PagerDuty has open problems
    of: `acknowledge` on its dedup key, in the one lane behind the trigger it answers. A
    snooze and a note tell PagerDuty nothing (its Events API has neither); an abandon closes
    the rollout with its `abandoned` finding, which resolves (a closing kind)."""
    if action.verb is not Verb.ACKNOWLEDGE or thread is None or not thread.firing:
        return []
    key = dedup_key(view.expectation, view.rollout)
    ident = hashlib.sha256(f"{key}|{action.at!r}|{action.by}".encode()).hexdigest()[:24]
    return [
        Item(
            key=f"act-{ident}:{ctx.sink}:acknowledge",
            sink=ctx.sink,
            payload={"event": control("acknowledge", key)},
            enqueued_at=ctx.now,
            next_at=ctx.now,
        )
    ]


def mark_test(settings: PagerDutySettings, item: Item, now: float) -> Item:
    """The test alert (`sentinel alerts test`): its summary the test's words, severity `info`
    (a service's urgency rules keep it from paging), class `test` and `custom_details.test`.
    PagerDuty keeps it open until someone resolves it there."""
    event = item.payload["event"]
    payload = {
        **event["payload"],
        "summary": TEST_WORDS,
        "severity": "info",
        "class": "test",
        "custom_details": {**event["payload"]["custom_details"], "test": True},
    }
    return replace(item, payload={**item.payload, "event": {**event, "payload": payload}})


def _summary(text: str) -> str:
    # Text for people (PagerDuty's app, SMS, a phone call): control characters shown, not obeyed.
    shown = printable(text)
    return shown if len(shown) <= SUMMARY_CHARS else shown[: SUMMARY_CHARS - 1] + "…"


def _fitted(key: str) -> str:
    if len(key) <= DEDUP_CHARS:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{key[: DEDUP_CHARS - len(digest) - 1]}#{digest}"


class PagerDutyTransport(JsonPost):
    """POST the event with the routing key (never kept in the outbox) to the Events API v2."""

    def __init__(self, settings: PagerDutySettings) -> None:
        super().__init__(settings.name, settings.url, settings.timeout)
        self._routing_key = settings.routing_key

    async def deliver(self, item: Item, outbox: Outbox, now: float) -> None:
        await self._post(dump({"routing_key": self._routing_key, **item.payload["event"]}), {})

    def refused(self, status: int, headers: Mapping[str, Any], answer: str) -> DeliveryError:
        """PagerDuty's answers: 400 an invalid event (dropped), unless what it cannot use is the
        routing key, which no event can get past; 429 throttled, with back-off when it says
        no Retry-After; 5xx retried with back-off."""
        if status == 400 and "routing" in answer.lower():
            return SinkBroken(f"HTTP 400 {answer[:100]}: check pagerduty.routing_key_env")
        if status == 429 and not any(name.lower() == "retry-after" for name in headers):
            return Transient(f"HTTP 429 {answer[:100]}".strip())
        return http_error(status, headers, answer[:100])

    async def refresh(self, outbox: Outbox, now: float) -> None:
        """Nothing to refresh: PagerDuty keeps an alert open until it is resolved."""


SINK = Sink(
    name="pagerduty",
    settings=PagerDutySettings,
    parse=parse,
    plan=plan,
    transport=PagerDutyTransport,
    human=False,
    mark_test=mark_test,
    on_action=on_action,
)
