"""Whatever a file holds, loading it either succeeds or raises ExpectationFileError whose every
line is `path:line: ...` with a line inside the file; and step graphs load as written."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.core.errors import ExpectationFileError
from sentinel.core.rules.loader import load_expectations

from .helpers import only_problem

PATH = "fuzz.yaml"
YAML_BREAK = re.compile(r"\r\n|[\n\r\x85\u2028\u2029]")
LINE_PREFIX = re.compile(r"fuzz\.yaml:(\d+): \S")

# Pieces of real expectation files, and of the ways they go wrong, for text that gets deep
# into the checks instead of stopping at the first YAML syntax error.
FRAGMENTS = [
    "apiVersion: sentinel/v1",
    "kind: Expectation",
    "metadata:",
    "  name: demo",
    "  owner: on",
    "metadata: {name: demo}",
    "spec:",
    "  correlate: data.rollout_id",
    "  correlate: data..x",
    "  deadline: 30m",
    "  deadline: 10",
    "  steps:",
    "  steps: []",
    "    - event: A",
    "    - event: B",
    "    - event: on",
    "    - B",
    "      after: [A]",
    "      after: [B, C]",
    "      after: A",
    "      within: 10m",
    "      within: 1:30",
    "      within: 10 minutes",
    "      on: yes",
    "  compensation:",
    "    - trigger: R",
    "      expect: R",
    "      within: PT15M",
    "  base: &base {event: X, within: 5m}",
    "    - <<: *base",
    "    - &loop [*loop]",
    "  stamp: 2024-02-30",
    "  tagged: !!bool maybe",
    "---",
    "...",
    "",
    "  - [",
    "  {",
    '  "unclosed',
    "\t",
]


def load_text(text: str) -> None:
    """Load `text` as a file; check the failure, if any, is a well-formed ExpectationFileError."""
    Path(PATH).write_text(text, encoding="utf-8")
    check_loads_or_explains(yaml_lines(text))


def yaml_lines(text: str) -> int:
    """Lines as YAML counts them: NEL and the Unicode separators break lines too."""
    return len(YAML_BREAK.findall(text)) + 1


def check_loads_or_explains(lines: int) -> None:
    try:
        load_expectations([PATH])
    except ExpectationFileError as error:
        assert error.problems
        for problem in error.problems:
            match = LINE_PREFIX.match(problem)
            assert match is not None, problem
            assert 1 <= int(match.group(1)) <= lines, problem
            assert "\n" not in problem


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_arbitrary_text_loads_or_raises_only_expectation_file_errors(text: str) -> None:
    load_text(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30))
def test_scrambled_expectation_files_load_or_raise_only_expectation_file_errors(
    lines: list[str],
) -> None:
    load_text("\n".join(lines))


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_load_or_raise_only_expectation_file_errors(data: bytes) -> None:
    Path(PATH).write_bytes(data)
    check_loads_or_explains(yaml_lines(data.decode("utf-8", "replace")))


@st.composite
def step_graphs(draw: st.DrawFn) -> list[tuple[str, list[str]]]:
    """Steps S0..Sn, each after some of the steps declared before it: always acyclic."""
    count = draw(st.integers(min_value=1, max_value=8))
    steps = []
    for index in range(count):
        earlier = [f"S{i}" for i in range(index)]
        after = draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else []
        steps.append((f"S{index}", after))
    return steps


def expectation_yaml(steps: list[tuple[str, list[str]]]) -> str:
    spec_steps = [
        {"event": event, **({"after": after, "within": "5m"} if after else {})}
        for event, after in steps
    ]
    document = {
        "apiVersion": "sentinel/v1",
        "kind": "Expectation",
        "metadata": {"name": "graph"},
        "spec": {"correlate": "data.id", "deadline": "1h", "steps": spec_steps},
    }
    return yaml.safe_dump(document, sort_keys=False)


@settings(max_examples=50, deadline=None)
@given(step_graphs())
def test_an_acyclic_step_graph_loads_as_written(steps: list[tuple[str, list[str]]]) -> None:
    Path(PATH).write_text(expectation_yaml(steps), encoding="utf-8")
    (expectation,) = load_expectations([PATH]).expectations
    assert [(step.event, list(step.after)) for step in expectation.steps] == steps


@settings(max_examples=50, deadline=None)
@given(step_graphs(), st.data())
def test_a_back_edge_makes_a_cycle_that_names_its_steps(
    steps: list[tuple[str, list[str]]], data: st.DataObject
) -> None:
    # Make an earlier step wait for a later one that (directly or not) waits for it.
    later = data.draw(st.integers(min_value=0, max_value=len(steps) - 1))
    path = [f"S{later}"]
    while steps[int(path[-1][1:])][1]:
        path.append(data.draw(st.sampled_from(steps[int(path[-1][1:])][1])))
    first = path[-1]
    steps[int(first[1:])] = (first, [*steps[int(first[1:])][1], f"S{later}"])
    Path(PATH).write_text(expectation_yaml(steps), encoding="utf-8")
    problem = only_problem(PATH)
    cycle = re.search(r"cycle ((?:S\d+ -> )+S\d+):", problem)
    assert cycle is not None, problem
    named = cycle.group(1).split(" -> ")
    assert named[0] == named[-1]
    # The graph was acyclic, so every cycle goes through the new edge.
    assert {first, f"S{later}"} <= set(named)
    for earlier, then in itertools.pairwise(named):
        assert earlier in dict(steps)[then]
