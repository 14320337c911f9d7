"""The order and the pages of rollout lists (issue 22): a page chosen from the rollouts' state
by cheap checks is the page the API's summaries would give; cursors read back what they wrote
and refuse the rest; times compare by the milliseconds the API writes."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.core.engine.rollout import RolloutState, view_of
from sentinel.core.engine.snapshots import Phase
from sentinel.core.rules.expectations import Compensation, Expectation, Step
from sentinel.core.timefmt import format_rfc3339
from sentinel.status.api_json import summary
from sentinel.status.filters import RolloutQuery, paginate
from sentinel.status.paging import (
    BadCursor,
    OpenChoice,
    OpenRollouts,
    decode_cursor,
    encode_cursor,
    epoch_ms,
    summary_key,
    text_ms,
)

T0 = 1_795_600_800.0
STEPS = ("A", "B", "C")
EXPECTATIONS = (
    Expectation(
        name="late",
        owner="team-a",
        correlate="data.id",
        deadline=600.0,
        steps=(Step("A"), Step("B", after=("A",), within=60.0, owner="team-b"), Step("C")),
        compensation=(Compensation("Undo", "Undone", 60.0),),
    ),
    Expectation(
        name="calm",
        owner=None,
        correlate="data.id",
        steps=(Step("A"), Step("B", after=("A",), within=60.0)),
        compensation=(Compensation("Undo", "Undone", 60.0),),
    ),
)
# Times a millisecond apart and within one: the order must agree on ties and near-ties.
OPENINGS = [
    T0 + offset for offset in (0, 0.0004, 0.0005, 0.0006, 0.001, 0.0015, 0.0029, 1, -2.5, -0.0001)
]


@st.composite
def states(draw: st.DrawFn, exp: Expectation) -> list[RolloutState]:
    keys = draw(st.lists(st.text("abAB<é", min_size=1, max_size=3), unique=True, max_size=20))
    made = []
    for key in keys:
        phase = draw(st.sampled_from([Phase.OPEN] * 3 + list(Phase)))
        undoing = phase in (Phase.ROLLING_BACK, Phase.ROLLED_BACK)
        names = st.sampled_from([*STEPS, "Undone", "Gone"])
        made.append(
            RolloutState(
                exp.name,
                key,
                draw(st.sampled_from(OPENINGS)),
                phase=phase,
                seen={name: T0 for name in draw(st.sets(names, max_size=3))},
                stalled=draw(st.just(()) | st.just(()) | st.tuples(names)),
                deadline_at=draw(st.just(T0 + 600) | st.just(T0 + 600) | st.none()),
                rollback="Undo" if undoing else None,
            )
        )
    return made


@pytest.mark.slow  # the property, many examples: `make test` runs it, not `make unit`
@given(
    late=states(EXPECTATIONS[0]),
    calm=states(EXPECTATIONS[1]),
    limit=st.integers(1, 4),
    problem=st.booleans(),
    search=st.none() | st.sampled_from(["a", "b", "é"]),
    owner=st.none() | st.sampled_from(["team-a", "team-b"]),
    chunk=st.integers(1, 5),
    merge_at=st.integers(1, 8),
    pick=st.none() | st.integers(0, 30),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=500, deadline=None)
def test_a_page_chosen_from_the_state_is_the_page_of_the_summaries(
    late: list[RolloutState],
    calm: list[RolloutState],
    limit: int,
    problem: bool,
    search: str | None,
    owner: str | None,
    chunk: int,
    merge_at: int,
    pick: int | None,
    seed: int,
) -> None:
    every = {"late": late, "calm": calm}
    by_name = {exp.name: exp for exp in EXPECTATIONS}
    rows = [summary(view_of(by_name[name], state)) for name in every for state in every[name]]
    ordered = sorted(
        (row for row in rows if row["phase"] in ("open", "rolling_back")), key=summary_key
    )
    after = None if pick is None or pick >= len(ordered) else summary_key(ordered[pick])
    query = RolloutQuery(owner=owner, problem=problem, limit=limit, search=search, after=after)
    expected = paginate(rows, query)

    choice = OpenChoice(limit + 1, problem, search, after, merge_at)
    for exp in EXPECTATIONS:
        rollouts = OpenRollouts(exp)
        if owner is not None and owner not in rollouts.owners:
            continue
        fed = list(every[exp.name])
        random.Random(seed).shuffle(fed)  # the engine's order is not the page's
        for start in range(0, len(fed), chunk):
            choice.add(rollouts, fed[start : start + chunk])
    chosen = [summary(view_of(by_name[s.expectation], s)) for _, s in choice.chosen()[:limit]]
    assert [(row["expectation"], row["rollout"]) for row in chosen] == [
        (row["expectation"], row["rollout"]) for row in expected.rows
    ]
    assert (choice.total, choice.with_problems) == (expected.total, expected.with_problems)
    assert (len(choice.chosen()) > limit) == (expected.next is not None)


@given(st.floats(-30_000_000_000.0, 253_402_300_799.0))
def test_the_milliseconds_of_a_time_are_those_its_text_says(epoch: float) -> None:
    assert epoch_ms(epoch) == text_ms(format_rfc3339(epoch))


def test_rollouts_with_an_open_problem_come_first_then_the_newest_opened() -> None:
    def row(key: str, opened: str, problems: list[str], phase: str = "open") -> dict[str, object]:
        return {"expectation": "e", "rollout": key, "opened_at": opened, "problems": problems,
                "phase": phase}  # fmt: skip

    rows = [
        row("old-stall", "2026-11-25T10:00:00Z", ["stall"]),
        row("new", "2026-11-25T10:05:00.500Z", []),
        row("newer-stall", "2026-11-25T10:01:00Z", ["stall"]),
        row("closed-stall", "2026-11-25T10:09:00Z", ["stall"], phase="rolled_back"),
        row("b-same", "2026-11-25T10:05:00.500Z", []),
    ]
    assert [r["rollout"] for r in sorted(rows, key=summary_key)] == [
        "newer-stall",
        "old-stall",
        "closed-stall",  # closed: nobody is needed any more
        "b-same",  # same time: by key
        "new",
    ]


@given(st.tuples(st.sampled_from([0, 1]), st.integers(-(10**16), 10**16), st.text(), st.text()))
def test_a_cursor_reads_back_the_place_it_was_made_of(key: tuple[int, int, str, str]) -> None:
    cursor = encode_cursor(key)
    assert decode_cursor(cursor) == key
    assert cursor.replace(".", "").replace("-", "").replace("_", "").isalnum()


@given(st.from_regex(r"\A[01]\.-?[0-9]{1,20}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\Z"))
def test_any_text_of_the_cursors_shape_is_a_place(text: str) -> None:
    assert len(decode_cursor(text)) == 4


@pytest.mark.parametrize(
    "text",
    ["", "0", "2.5.AA.AA", "1.x.AA.AA", "1.5.AA", "1.5.A=.AA", "1.5.AA.AA.AA", "1." + "9" * 21
     + ".A.A", "1.5.é.AA", "1.5.AA.AA\n", "1.5.AA." + "A" * 20_000],
)  # fmt: skip
def test_anything_else_is_not_a_cursor(text: str) -> None:
    with pytest.raises(BadCursor):
        decode_cursor(text)
