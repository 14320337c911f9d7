"""The test alert of `sentinel alerts test`, a drill: one made-up finding planned by a sink's own
`plan` as a new rollout alert, then marked as a test the sink's own way (`Sink.mark_test`). Pure:
`commands/alerts_command.py` delivers what this plans through the sink's transport."""

from __future__ import annotations

from datetime import UTC, datetime

from sentinel.alerting.grouper import Context, Plan, Planner, RolloutGroup
from sentinel.alerting.settings import AlertingSettings
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.ports.outbox import thread_key

# Every test alert's words start with this, in every sink that shows words.
TEST_TITLE = "[TEST] rollout-sentinel test alert"
TEST_SENTENCE = (
    "sent by `sentinel alerts test` to check that this sink delivers; it needs no action"
)
TEST_WORDS = f"{TEST_TITLE}: {TEST_SENTENCE}"
# An alert a receiver keeps open (Alertmanager) ends by itself this long after it is sent.
TEST_LIFETIME = 300.0


def drill_finding(now: float) -> Finding:
    """A problem of a made-up rollout whose every word says it is a test: a warning (a step out
    of order), not a page; a new rollout key each run, so that no receiver folds two drills
    into one. Sinks without a way of their own to mark a test (`Sink.mark_test`) say these words:
    `Out of order: [TEST] rollout-sentinel test alert rollout test-20261206T101500Z: a test
    alert seen before any real problem (no action needed)`."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
    return Finding(
        kind=Kind.OUT_OF_ORDER,
        at=now,
        expectation=TEST_TITLE,
        rollout=f"test-{stamp}",
        step="a test alert",
        missing=("any real problem (no action needed)",),
        reason=TEST_WORDS,
    )


def plan_drill(
    planner: Planner, destination: str, finding: Finding, settings: AlertingSettings, sink: str
) -> Plan:
    """The sink's own plan of the test finding as the first problem of a new rollout, held in
    `destination` (the lane the sink gives a finding without an owner: the Slack bot's default
    channel): its deliveries in order (normally one), and the threads it remembers (the Slack
    bot's, where the transport writes the message's `ts` once posted)."""
    group = RolloutGroup(
        key=thread_key(finding.expectation, finding.rollout),
        expectation=finding.expectation or "",
        rollout=finding.rollout or "",
        destination=destination,
        opens=True,
        findings=(finding,),
        view=None,
        held_at=finding.at,
    )
    return planner([group], [], {}, Context(sink, finding.at, settings))
