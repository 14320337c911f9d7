"""The deadline heap stays as large as the deadlines still pending, whatever was cancelled."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sentinel.core.engine.deadlines import COMPACT_MIN, DeadlineHeap
from sentinel.core.engine.engine import Engine
from sentinel.core.rules.expectations import Expectation, Step

from .helpers import MIN, T0, event, kinds

DAY = 24 * 60 * MIN
# Long windows that rollouts meet within seconds: each met step leaves a stale heap entry.
QUICK = Expectation(
    name="quick",
    correlate="data.rollout_id",
    deadline=2 * DAY,
    steps=(Step("Start"), Step("Done", after=("Start",), within=DAY)),
)


def run_rollouts(engine: Engine, finished: int, left_open: int) -> None:
    for number in range(finished + left_open):
        at = T0 + number
        engine.apply(event("Start", at, f"r{number}"), at)
        if number < finished:
            engine.apply(event("Done", at + 1, f"r{number}"), at + 1)


def test_deadlines_met_early_do_not_pile_up_in_the_heap() -> None:
    engine = Engine([QUICK])
    run_rollouts(engine, finished=20 * COMPACT_MIN, left_open=0)
    assert engine.deadlines.compactions > 0
    assert len(engine.deadlines) <= 2 * COMPACT_MIN


def test_compacting_keeps_every_pending_deadline() -> None:
    engine = Engine([QUICK])
    run_rollouts(engine, finished=10 * COMPACT_MIN, left_open=3)
    assert engine.deadlines.compactions > 0
    found = engine.advance(T0 + 3 * DAY)
    stalled = sorted(finding.rollout or "" for finding in found if finding.kind == "stall")
    first_open = 10 * COMPACT_MIN
    assert stalled == sorted(f"r{first_open + n}" for n in range(3))
    assert kinds(found).count("deadline_exceeded") == 3


def test_a_heap_below_its_minimum_size_is_left_alone() -> None:
    engine = Engine([QUICK])
    run_rollouts(engine, finished=COMPACT_MIN // 4, left_open=0)
    assert engine.deadlines.compactions == 0


@given(
    st.lists(
        st.tuples(
            st.floats(0, 10_000),
            st.sampled_from("ab"),
            st.sampled_from("xy"),
            st.just(""),
            st.floats(0, 10_000),
        )
    )
)
def test_near_and_far_deadlines_come_out_as_one_heap_would_give_them(
    pushed: list[tuple[float, str, str, str, float]],
) -> None:
    """Each entry goes to the near or the far heap by when it was set; popping compares the
    two tops, so the order is the one of a single heap, ties included."""
    heap = DeadlineHeap()
    for due, name, key, step, now in pushed:
        heap.push((due, name, key, step), now)
    popped = [heap.pop() for _ in range(len(heap))]
    assert popped == sorted(entry[:4] for entry in pushed)
