"""YAML 1.1 reads a bare on/off/yes/no/true/false as a boolean: where a name or a key is due,
the message says so instead of a puzzling type or unknown-field error."""

from __future__ import annotations

import pytest

from .helpers import load, only_problem, problems, write


@pytest.mark.parametrize(
    ("word", "value"), [("on", "true"), ("off", "false"), ("yes", "true"), ("No", "false")]
)
def test_a_bare_boolean_word_as_an_event_name_says_to_quote_it(word: str, value: str) -> None:
    path = write(
        "x.yaml",
        f"""\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {{name: demo}}
        spec:
          correlate: data.id
          steps:
            - event: A
            - event: {word}
              after: [A]
        """,
    )
    assert only_problem(path) == (
        f"x.yaml:8: spec.steps[1].event: the boolean {value} is not an event name:"
        f' YAML 1.1 reads a bare {word} as a boolean; quote it ("{word}")'
    )


def test_a_quoted_boolean_word_is_a_name_like_any_other() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: demo}
        spec:
          correlate: data.id
          deadline: 1h
          steps:
            - event: "on"
            - event: "yes"
              after: ["on"]
        """,
    )
    assert [step.event for step in load(path).expectations[0].steps] == ["on", "yes"]


def test_booleans_where_names_are_due_are_reported_in_after_owner_and_compensation() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: demo, owner: no}
        spec:
          correlate: data.id
          steps:
            - event: A
              after: [yes]
          compensation:
            - trigger: off
              expect: B
        """,
    )
    assert problems(path) == (
        "x.yaml:3: metadata.owner: the boolean false is not an owner: YAML 1.1 reads a bare no"
        ' as a boolean; quote it ("no")',
        "x.yaml:8: spec.steps[0].after[0]: the boolean true is not a step name: YAML 1.1 reads"
        ' a bare yes as a boolean; quote it ("yes")',
        "x.yaml:10: spec.compensation[0].trigger: the boolean false is not an event name:"
        ' YAML 1.1 reads a bare off as a boolean; quote it ("off")',
    )


def test_a_bare_boolean_key_is_reported_as_a_boolean_not_as_an_unknown_field() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: demo}
        spec:
          correlate: data.id
          steps:
            - event: A
              on: B
        """,
    )
    assert only_problem(path) == (
        "x.yaml:8: spec.steps[0].on: YAML 1.1 reads the bare key on as the boolean true, and"
        " there is no such field (a step has: event, after, within, owner)"
    )


def test_a_boolean_key_at_the_top_of_the_document_is_reported_as_such() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: demo}
        spec: {correlate: data.id, steps: [{event: A}]}
        Off: true
        """,
    )
    assert only_problem(path) == (
        "x.yaml:5: Off: YAML 1.1 reads the bare key Off as the boolean false, and there is no"
        " such field (an expectation has: apiVersion, kind, metadata, spec)"
    )
