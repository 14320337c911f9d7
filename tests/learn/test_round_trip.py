"""Round trip: random expectations write logs; `learn` gives their graphs back, and files that
a replay of the same log does not fault."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Kind
from sentinel.core.pipeline.replay import read_lines, replay
from sentinel.core.rules.loader import load_expectations
from sentinel.learning.learner import LearnOptions, learn
from sentinel.learning.model import LearnedExpectation, LearnResult
from sentinel.learning.render import render_all

from .generators import T0, Family, families, write_log

FAULTS = {Kind.STALL, Kind.OUT_OF_ORDER, Kind.DEADLINE_EXCEEDED}
ROOT = Path(__file__).resolve().parents[2]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Family], int]:
    """One or two families (on `data.rollout_id` and on `subject`), and a seed for jitter."""
    chosen = [draw(families("D", "data.rollout_id"))]
    if draw(st.booleans()):
        chosen.append(draw(families("G", "subject")))
    return chosen, draw(st.integers(min_value=0, max_value=2**32))


def learned_for(result: LearnResult, family: Family) -> LearnedExpectation:
    wanted = {step.event for step in family.expectation.steps}
    matches = [e for e in result.expectations if {s.event for s in e.steps} == wanted]
    assert len(matches) == 1, [[s.event for s in e.steps] for e in result.expectations]
    return matches[0]


def edges_of(learned: LearnedExpectation) -> set[tuple[str, str]]:
    return {(edge.prerequisite, step.event) for step in learned.steps for edge in step.after}


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_learn_recovers_every_graph_and_its_files_replay_the_log_without_a_fault(
    scenario: tuple[list[Family], int],
) -> None:
    chosen, seed = scenario
    lines, _ = write_log(chosen, seed)
    result = learn(read_lines(lines), LearnOptions())

    assert len(result.expectations) == len(chosen)
    for family in chosen:
        learned = learned_for(result, family)
        assert learned.correlate == family.expectation.correlate
        assert edges_of(learned) == family.reduced_edges
        assert {(c.trigger, c.expect) for c in learned.compensations} == {
            (c.trigger, c.expect) for c in family.expectation.compensation
        }
        assert learned.broken == ()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "learned.yaml")
        path.write_text(render_all(result.expectations))
        expectations = load_expectations([path]).expectations
    findings = list(replay(read_lines(lines), Engine(expectations), read_at=lambda: T0))
    faults = [f.to_json_dict() for f in findings if f.kind in FAULTS]
    assert faults == []
    assert sum(f.kind is Kind.COMPLETED for f in findings) == sum(
        e.completed for e in result.expectations
    )


@settings(max_examples=40, deadline=None)
@given(scenarios())
def test_a_few_rollouts_out_of_order_leave_the_edges_and_are_listed(
    scenario: tuple[list[Family], int],
) -> None:
    chosen, seed = scenario
    broken = max(1, min(len(f.expectation.steps) for f in chosen) * 12 // 40)
    lines, spoiled = write_log(chosen, seed, broken=broken)
    result = learn(read_lines(lines), LearnOptions())

    for family in chosen:
        learned = learned_for(result, family)
        assert edges_of(learned) == family.reduced_edges
        assert {b.rollout for b in learned.broken} == set(spoiled[family.prefix])


def test_the_shipped_game_release_with_its_fan_out_and_fan_in_comes_back_from_its_log() -> None:
    (shipped,) = load_expectations(
        [ROOT / "expectations" / "game-feature-weekly.yaml"]
    ).expectations
    family = Family(shipped, "G")
    lines, _ = write_log([family], seed=13)

    learned = learned_for(learn(read_lines(lines), LearnOptions()), family)

    assert edges_of(learned) == {
        ("FeatureFlags_Staged", "Matchmaking_Updated"),
        ("FeatureFlags_Staged", "Leaderboard_Migrated"),
        ("Matchmaking_Updated", "TournamentService_Enabled"),
        ("Leaderboard_Migrated", "TournamentService_Enabled"),
        ("TournamentService_Enabled", "Release_Announced"),
    }
    assert [(c.trigger, c.expect) for c in learned.compensations] == [
        ("Release_Rollback_Started", "Release_Rollback_Done")
    ]
