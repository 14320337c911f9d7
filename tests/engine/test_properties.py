"""The engine's invariants, checked by hypothesis over random step graphs and event logs."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.events.envelope import Envelope
from sentinel.core.pipeline.replay import read_lines
from sentinel.core.rules.expectations import Expectation, Step

from .helpers import MIN, T0, run

settings.register_profile("sentinel", deadline=None, max_examples=150)
settings.load_profile("sentinel")


@dataclass(frozen=True)
class Scenario:
    """A random expectation and one rollout's events, each within its window, in time order."""

    expectation: Expectation
    events: tuple[Envelope, ...]


@st.composite
def scenarios(draw: st.DrawFn, rollout: str = "r1") -> Scenario:
    count = draw(st.integers(min_value=1, max_value=7))
    steps = []
    for index in range(count):
        after = draw(st.sets(st.integers(min_value=0, max_value=index - 1))) if index else set()
        within = draw(st.integers(min_value=10, max_value=60)) * MIN
        steps.append(Step(f"S{index}", tuple(f"S{p}" for p in sorted(after)), within))
    expectation = Expectation(name="random", correlate="data.rollout_id", steps=tuple(steps))
    # A random topological order: repeatedly take any step whose prerequisites are placed.
    placed: list[Step] = []
    remaining = list(steps)
    while remaining:
        ready = [s for s in remaining if all(p in {x.event for x in placed} for p in s.after)]
        chosen = draw(st.sampled_from(ready))
        placed.append(chosen)
        remaining.remove(chosen)
    # Times strictly increase along the order by at most 60s each: always within the windows.
    events, at = [], T0
    for position, step in enumerate(placed):
        if position:
            at += draw(st.integers(min_value=1, max_value=60))
        events.append(
            Envelope(step.event, f"{rollout}-{step.event}", "/p", at, {"rollout_id": rollout})
        )
    return Scenario(expectation, tuple(events))


class AcceptEverything:
    """Every type registered and valid: these properties are about rollouts, not schemas."""

    def check(self, event_type: str, data: object) -> list[str]:
        return []


def findings_of(expectation: Expectation, events: list[Envelope]) -> list[Finding]:
    return run(Engine([expectation], AcceptEverything()), events, until=T0 + 100 * 60 * MIN)


def as_set(findings: list[Finding]) -> list[str]:
    return sorted(json.dumps(f.to_json_dict(), sort_keys=True) for f in findings)


@given(scenarios())
def test_events_in_order_and_within_their_windows_complete_exactly_once(case: Scenario) -> None:
    findings = findings_of(case.expectation, list(case.events))
    assert [f.kind for f in findings] == [Kind.COMPLETED]
    assert findings[0].duration_s == case.events[-1].time - case.events[0].time  # type: ignore[operator]


@given(scenarios(), st.data())
def test_dropping_one_event_stalls_exactly_that_step(case: Scenario, data: st.DataObject) -> None:
    dropped = data.draw(st.sampled_from(case.events))
    events = [e for e in case.events if e is not dropped]
    findings = findings_of(case.expectation, events)
    stalls = [f for f in findings if f.kind is Kind.STALL]
    if not events:
        assert findings == []  # nothing opened the rollout, so nothing can be missing
        return
    assert [s.step for s in stalls] == [dropped.type]
    assert Kind.COMPLETED not in [f.kind for f in findings]
    # Whatever else is said is about steps that came without the dropped prerequisite.
    assert {f.kind for f in findings} <= {Kind.STALL, Kind.OUT_OF_ORDER}


@given(scenarios(), st.data())
def test_duplicated_events_change_no_finding(case: Scenario, data: st.DataObject) -> None:
    original = findings_of(case.expectation, list(case.events))
    events = list(case.events)
    for _ in range(data.draw(st.integers(min_value=1, max_value=5))):
        index = data.draw(st.integers(min_value=0, max_value=len(events) - 1))
        later = data.draw(st.integers(min_value=index + 1, max_value=len(events)))
        events.insert(later, events[index])
    assert findings_of(case.expectation, events) == original


@given(scenarios(), st.data())
def test_shuffling_events_with_equal_times_changes_no_finding(
    case: Scenario, data: st.DataObject
) -> None:
    # Three rollouts share the timestamps; some lose an event so stalls are in play too.
    log: list[Envelope] = []
    for rollout in ("a", "b", "c"):
        keep = data.draw(
            st.lists(st.booleans(), min_size=len(case.events), max_size=len(case.events))
        )
        log += [
            replace(e, id=f"{rollout}-{e.id}", data={"rollout_id": rollout})
            for e, kept in zip(case.events, keep, strict=True)
            if kept
        ]
    log.sort(key=lambda e: e.time)  # type: ignore[arg-type, return-value]
    shuffled = data.draw(st.permutations(log))
    shuffled = sorted(shuffled, key=lambda e: e.time)  # type: ignore[arg-type, return-value]
    assert as_set(findings_of(case.expectation, shuffled)) == as_set(
        findings_of(case.expectation, log)
    )


@given(scenarios(), st.data())
def test_replay_output_is_deterministic(case: Scenario, data: st.DataObject) -> None:
    events = data.draw(st.lists(st.sampled_from(case.events), max_size=12))
    first = findings_of(case.expectation, events)
    assert findings_of(case.expectation, events) == first


@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise_and_give_only_malformed(raw: bytes) -> None:
    lines = raw.split(b"\n")
    engine = Engine([Expectation(name="x", correlate="data.id", steps=(Step("A"),))])
    findings = run(engine, list(read_lines(lines)))
    expected = [line for line in lines if line.strip()]
    assert [f.kind for f in findings] == [Kind.MALFORMED] * len(expected)
    assert all(f.reason for f in findings)
