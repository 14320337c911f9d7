"""The learner's parts on small cases a person can check by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.core.events.envelope import Envelope
from sentinel.core.pipeline.replay import read_lines
from sentinel.core.rules.loader import load_expectations
from sentinel.learning.correlation import Discovery
from sentinel.learning.delays import Delays, propose_window, readable_ceil
from sentinel.learning.model import Edge, LearnedExpectation, LearnedStep
from sentinel.learning.order import count_before, learn_order
from sentinel.learning.render import render

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_LOG = ROOT / "expectations" / "examples" / "rollouts.jsonl"
M = 60.0


@pytest.mark.parametrize(
    ("seconds", "readable"),
    [(0.0, 1.0), (7.0, 10.0), (13 * M + 47, 15 * M), (15 * M, 15 * M), (100 * M, 2 * 3600.0)],
)
def test_durations_round_up_to_what_a_person_writes(seconds: float, readable: float) -> None:
    assert readable_ceil(seconds) == readable


def test_a_window_is_above_the_99th_percentile_even_when_it_is_readable_already() -> None:
    waits = Delays.of([10 * M] * 50)
    assert waits is not None
    assert propose_window(waits) == 12 * M


def test_the_99th_percentile_of_fewer_than_100_waits_is_the_longest() -> None:
    waits = Delays.of([float(n) for n in range(1, 100)])
    assert waits is not None
    assert (waits.p50, waits.p99, waits.max) == (50.0, 99.0, 99.0)


def test_transitive_reduction_keeps_fan_out_and_fan_in() -> None:
    # 0 -> {1, 2} -> 3, in both orders of 1 and 2: every implied pair is also seen.
    orders = [((0, 1, 2, 3), 10), ((0, 2, 1, 3), 10)]
    learned = learn_order(count_before(orders), 0.95)
    assert {(e.first, e.then) for e in learned.edges} == {(0, 1), (0, 2), (1, 3), (2, 3)}


def test_an_order_below_the_support_is_no_edge_but_a_near_miss_with_its_figures() -> None:
    learned = learn_order(count_before([((0, 1), 9), ((1, 0), 2)]), 0.95)
    assert learned.edges == ()
    assert [(w.first, w.then, w.before, w.both) for w in learned.weak] == [(0, 1, 9, 11)]


def test_a_cycle_across_different_rollouts_loses_its_weakest_edge() -> None:
    # Each pair is ordered in every rollout that has it, but the three pairs make a cycle.
    orders = [((0, 1), 5), ((1, 2), 4), ((2, 0), 3)]
    learned = learn_order(count_before(orders), 0.95)
    assert {(e.first, e.then) for e in learned.edges} == {(0, 1), (1, 2)}


def test_discovery_finds_one_path_per_family_of_rollouts_in_the_example_log() -> None:
    discovery = Discovery()
    for item in read_lines(EXAMPLE_LOG.read_bytes().splitlines()):
        if isinstance(item, Envelope):
            discovery.add(item)
    chosen = discovery.choose()
    # `data.release` groups the game's events too, but `subject` came first (no repeats).
    assert [choice.path for choice in chosen] == ["data.rollout_id", "subject"]
    assert "SchemaV2_Ready" in chosen[0].types
    assert "Release_Announced" in chosen[1].types


@pytest.mark.parametrize("event_type", ["on", "Yes", "123", "a: b", "#tag", "café-ready", "null"])
def test_any_event_type_is_written_so_that_yaml_reads_it_back_as_the_same_string(
    event_type: str, tmp_path: Path
) -> None:
    waits = Delays.of([60.0])
    learned = LearnedExpectation(
        name="odd-names",
        correlate="data.rollout_id",
        steps=(
            LearnedStep("First_Done", (), None, Delays.of([0.0]), 3, 3),
            LearnedStep(event_type, (Edge("First_Done", 3, 3),), 120.0, waits, 3, 3),
        ),
        deadline=None,
        durations=None,
        compensations=(),
        rollouts=3,
        completed=3,
        rolled_back=0,
        open=(),
        broken=(),
        weak=(),
        left_out=(),
        min_support=0.95,
    )
    path = tmp_path / "odd.yaml"
    path.write_text(render(learned))

    loaded = load_expectations([path]).expectations[0]
    assert [step.event for step in loaded.steps] == ["First_Done", event_type]
    assert loaded.steps[1].after == ("First_Done",)
