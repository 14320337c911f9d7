"""Each finding kind of contract section 5, raised by the semantics of section 4."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.snapshots import Phase
from sentinel.core.events.envelope import Envelope, Malformed
from sentinel.core.events.records import Partition
from sentinel.core.rules.expectations import Expectation, Step

from .helpers import MIN, T0, event, kinds, run, user_service


class FakeSchemas:
    """A registry that knows the example's types and wants `version` on UserServiceV2_Running."""

    known = frozenset(
        {
            "SchemaV2_Ready",
            "UserServiceV2_Running",
            "MessagingService_Reconfigured",
            "Rollback_Initiated",
            "Rollback_Complete",
        }
    )

    def check(self, event_type: str, data: object) -> list[str] | None:
        if event_type not in self.known:
            return None
        if event_type == "UserServiceV2_Running" and "version" not in data:  # type: ignore[operator]
            return ["/: 'version' is a required property"]
        return []


def engine(deadline: float | None = 30 * MIN) -> Engine:
    return Engine([user_service(deadline)], FakeSchemas())


def happy_path(rollout: str = "r1") -> list[Envelope]:
    return [
        event("SchemaV2_Ready", T0, rollout),
        event("UserServiceV2_Running", T0 + 6 * MIN, rollout, version="2.0"),
        event("MessagingService_Reconfigured", T0 + 9 * MIN, rollout),
    ]


def only(findings: list[Finding], kind: Kind) -> Finding:
    matching = [finding for finding in findings if finding.kind == kind]
    assert len(matching) == 1, findings
    return matching[0]


def test_a_rollout_whose_steps_arrive_in_their_windows_completes_once() -> None:
    findings = run(engine(), happy_path(), until=T0 + 60 * MIN)
    assert kinds(findings) == ["completed"]
    assert findings[0].duration_s == 9 * MIN
    assert findings[0].expectation == "user-service-v2"
    assert findings[0].rollout == "r1"


def test_a_missing_step_stalls_once_when_the_clock_passes_its_due_time() -> None:
    findings = run(engine(deadline=None), happy_path()[:1], until=T0 + 60 * MIN)
    stall = only(findings, Kind.STALL)
    assert stall.step == "UserServiceV2_Running"
    assert stall.deadline == T0 + 10 * MIN
    assert stall.owner == "team-users"
    assert stall.at == T0 + 60 * MIN
    assert kinds(findings) == ["stall"]


def test_an_event_at_exactly_its_due_time_is_on_time() -> None:
    events = happy_path()
    events[1] = event("UserServiceV2_Running", T0 + 10 * MIN, version="2")
    assert kinds(run(engine(), events[:2], until=T0 + 10 * MIN)) == []


def test_a_late_event_recovers_a_stalled_step() -> None:
    events = happy_path()
    events[1] = event("UserServiceV2_Running", T0 + 12 * MIN, version="2")
    events[2] = event("MessagingService_Reconfigured", T0 + 13 * MIN)
    findings = run(engine(), events)
    assert kinds(findings) == ["stall", "recovered", "completed"]
    assert findings[1].step == "UserServiceV2_Running"


def test_a_step_seen_before_its_prerequisite_is_out_of_order_and_still_counts() -> None:
    events = [
        event("SchemaV2_Ready", T0),
        event("MessagingService_Reconfigured", T0 + 1 * MIN),
        event("UserServiceV2_Running", T0 + 2 * MIN, version="2"),
    ]
    findings = run(engine(), events)
    out_of_order = only(findings, Kind.OUT_OF_ORDER)
    assert out_of_order.step == "MessagingService_Reconfigured"
    assert out_of_order.missing == ("UserServiceV2_Running",)
    assert kinds(findings) == ["out_of_order", "completed"]


def test_a_rollout_not_complete_by_its_deadline_is_reported_once() -> None:
    events = [
        event("SchemaV2_Ready", T0),
        event("UserServiceV2_Running", T0 + 9 * MIN, version="2"),
    ]
    findings = run(engine(deadline=12 * MIN), events, until=T0 + 2 * 60 * MIN)
    # The messaging step was due at 14m, after the rollout's 12m deadline.
    assert kinds(findings) == ["deadline_exceeded", "stall"]
    assert findings[0].deadline == T0 + 12 * MIN
    assert findings[0].owner == "team-identity"
    assert findings[0].step is None


def test_a_rollback_cancels_pending_deadlines_and_waits_only_for_its_expect() -> None:
    events = [
        event("SchemaV2_Ready", T0),
        event("Rollback_Initiated", T0 + 5 * MIN),
        event("Rollback_Complete", T0 + 12 * MIN),
    ]
    findings = run(engine(), events, until=T0 + 5 * 60 * MIN)
    assert kinds(findings) == ["rollback", "rolled_back"]
    assert findings[0].event_type == "Rollback_Initiated"
    assert findings[1].duration_s == 12 * MIN


def test_a_compensation_that_never_completes_stalls_on_its_expect() -> None:
    events = [event("SchemaV2_Ready", T0), event("Rollback_Initiated", T0 + 5 * MIN)]
    findings = run(engine(), events, until=T0 + 60 * MIN)
    assert kinds(findings) == ["rollback", "stall"]
    assert findings[1].step == "Rollback_Complete"
    assert findings[1].deadline == T0 + 20 * MIN


def test_a_schema_violation_does_not_advance_the_rollout() -> None:
    events = [
        event("SchemaV2_Ready", T0),
        event("UserServiceV2_Running", T0 + 1 * MIN),  # no version: invalid
        event("MessagingService_Reconfigured", T0 + 2 * MIN),
    ]
    findings = run(engine(deadline=None), events, until=T0 + 60 * MIN)
    violation = only(findings, Kind.SCHEMA_VIOLATION)
    assert violation.errors == ("/: 'version' is a required property",)
    assert violation.event_type == "UserServiceV2_Running"
    assert violation.expectation == "user-service-v2"
    assert violation.rollout == "r1"
    assert violation.owner == "team-users"
    # The messaging step came before the (ignored) user service: out of order, then a stall.
    assert kinds(findings) == ["schema_violation", "out_of_order", "stall"]


def test_an_unregistered_type_is_reported_once_per_type_and_still_advances() -> None:
    sentinel = Engine([user_service()], schemas=None)
    findings = run(sentinel, happy_path() + [event("Other", T0 + 10 * MIN)] * 1)
    unregistered = [f for f in findings if f.kind == Kind.UNREGISTERED_EVENT]
    assert [f.event_type for f in unregistered] == [
        "SchemaV2_Ready",
        "UserServiceV2_Running",
        "MessagingService_Reconfigured",
        "Other",
    ]
    assert Kind.COMPLETED in [f.kind for f in findings]
    again = run(sentinel, [event("Other", T0 + 11 * MIN)])
    assert again == []


def test_an_event_without_the_correlation_field_is_uncorrelated() -> None:
    item = Envelope("SchemaV2_Ready", "x1", "/s", T0, {"something": "else"})
    findings = run(engine(), [item])
    uncorrelated = only(findings, Kind.UNCORRELATED)
    assert uncorrelated.reason == "data.rollout_id is missing"
    assert uncorrelated.expectation == "user-service-v2"
    assert uncorrelated.event_id == "x1"


def test_a_malformed_record_is_reported_and_the_next_one_is_processed() -> None:
    findings = run(engine(), [Malformed("no type", "line 3"), *happy_path()])
    assert kinds(findings) == ["malformed", "completed"]
    assert findings[0].reason == "no type"
    assert findings[0].event_source == "line 3"


def test_the_same_source_and_id_twice_is_one_event() -> None:
    first = event("UserServiceV2_Running", T0 + 1 * MIN, event_id="dup")
    again = event("UserServiceV2_Running", T0 + 2 * MIN, event_id="dup")
    findings = run(engine(), [event("SchemaV2_Ready", T0), first, again])
    assert kinds(findings) == ["schema_violation"]


def test_a_closed_rollout_ignores_late_and_repeated_events() -> None:
    sentinel = engine()
    run(sentinel, happy_path())
    late = [event("SchemaV2_Ready", T0 + 20 * MIN), event("Rollback_Initiated", T0 + 21 * MIN)]
    assert run(sentinel, late, until=T0 + 3 * 60 * MIN) == []


def test_a_closed_rollout_is_forgotten_after_the_retention() -> None:
    sentinel = Engine([user_service()], FakeSchemas(), retention_s=3600)
    run(sentinel, happy_path())
    sentinel.advance(T0 + 9 * MIN + 3601)
    assert sentinel.view("user-service-v2", "r1") is None
    assert sentinel.seen_events == {}


def test_an_event_without_time_happens_when_it_is_read() -> None:
    findings = run(engine(), [event("SchemaV2_Ready", None)], until=T0 + 11 * MIN)
    # read_at is T0 in the helpers: the rollout opened at T0, the next step was due at T0+10m.
    assert only(findings, Kind.STALL).deadline == T0 + 10 * MIN


def test_deadlines_of_a_held_feed_wait_until_it_is_released() -> None:
    sentinel = engine(deadline=None)
    feed = Partition("topic", 0)
    sentinel.apply(event("SchemaV2_Ready", T0), T0, feed=feed)
    assert sentinel.advance(T0 + 11 * MIN, held_feeds={feed}) == []
    assert kinds(sentinel.advance(T0 + 11 * MIN)) == ["stall"]


def test_the_view_shows_seen_due_and_stalled_steps() -> None:
    sentinel = engine(deadline=None)
    run(sentinel, happy_path()[:1], until=T0 + 11 * MIN)
    view = sentinel.view("user-service-v2", "r1")
    assert view is not None
    assert view.phase is Phase.OPEN
    assert [(s.step, s.seen_at, s.due_at, s.stalled) for s in view.steps] == [
        ("SchemaV2_Ready", T0, None, False),
        ("UserServiceV2_Running", None, T0 + 10 * MIN, True),
        ("MessagingService_Reconfigured", None, None, False),
    ]


def test_finding_ids_are_deterministic_and_distinguish_steps() -> None:
    first = run(engine(deadline=None), happy_path()[:1], until=T0 + 60 * MIN)
    second = run(engine(deadline=None), happy_path()[:1], until=T0 + 90 * MIN)
    assert first[0].id == second[0].id
    other = run(engine(deadline=None), happy_path("r2")[:1], until=T0 + 60 * MIN)
    assert other[0].id != first[0].id


def test_a_finding_is_a_value_equal_findings_hash_alike_and_a_copy_is_another() -> None:
    first = run(engine(deadline=None), happy_path()[:1], until=T0 + 60 * MIN)[0]
    again = run(engine(deadline=None), happy_path()[:1], until=T0 + 60 * MIN)[0]
    assert first == again and first is not again
    assert Counter([first, again]) == Counter({first: 2})
    linked = replace(first, trace_url="https://traces.example/x")
    assert linked.trace_url == "https://traces.example/x" and first.trace_url is None
    assert linked != first and linked.id == first.id  # the link is not part of the id
    assert len({first, again, linked}) == 2


def test_copies_for_one_expectation_advance_only_it_and_only_the_primary_reports() -> None:
    by_subject = Expectation(
        name="by-subject", correlate="subject", steps=(Step("SchemaV2_Ready"), Step("Other"))
    )
    sentinel = Engine([user_service(), by_subject], schemas=None)
    item = event("SchemaV2_Ready", T0)  # no subject: uncorrelated for by-subject
    primary = sentinel.apply(item, T0, only="user-service-v2", primary=True)
    assert kinds(primary) == ["unregistered_event", "uncorrelated"]
    assert sentinel.view("user-service-v2", "r1") is not None
    # The same event as a secondary copy for the other expectation says nothing more.
    assert sentinel.apply(item, T0, only="by-subject", primary=False) == []
    assert sentinel.rollouts["by-subject"] == {}
