"""Each mistake of contract section 3 is refused with `path:line: field: ...` at its own line."""

from __future__ import annotations

import pytest

from .helpers import only_problem, problems, write


def test_a_missing_required_field_is_named_at_the_line_of_its_parent() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata:
          owner: team-identity
        spec:
          steps:
            - event: A
        """,
    )
    assert problems(path) == (
        "x.yaml:3: metadata.name: required field missing (unique across all files;"
        " lowercase letters, digits and '-', e.g. user-service-v2)",
        "x.yaml:5: spec.correlate: required field missing (the dotted path into the event"
        " whose value is the rollout key, e.g. data.rollout_id)",
    )


def test_a_missing_top_level_field_is_named_at_the_first_line_of_the_document() -> None:
    path = write(
        "x.yaml",
        """\
        # a comment first
        kind: Expectation
        metadata: {name: demo}
        spec: {correlate: data.id, steps: [{event: A}]}
        """,
    )
    assert only_problem(path).startswith("x.yaml:2: apiVersion: required field missing")


def test_a_step_without_event_and_a_compensation_without_trigger_or_expect_are_refused() -> None:
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
            - after: [A]
              within: 5m
          compensation:
            - within: 5m
        """,
    )
    found = problems(path)
    assert found[0].startswith("x.yaml:8: spec.steps[1].event: required field missing")
    assert found[1].startswith("x.yaml:11: spec.compensation[0].trigger: required field missing")
    assert found[2].startswith("x.yaml:11: spec.compensation[0].expect: required field missing")
    assert len(found) == 3


def test_steps_must_hold_at_least_one_step() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: demo}
        spec:
          correlate: data.id
          steps: []
        """,
    )
    assert only_problem(path) == (
        "x.yaml:6: spec.steps: is an empty list; give at least one step, each written"
        " `- event: <event type>`"
    )


def test_the_format_version_and_kind_must_be_the_ones_of_this_contract() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v2
        kind: expectation
        metadata: {name: demo}
        spec: {correlate: data.id, steps: [{event: A}]}
        """,
    )
    assert problems(path) == (
        "x.yaml:1: apiVersion: must be sentinel/v1, not the text 'sentinel/v2'",
        "x.yaml:2: kind: must be Expectation, not the text 'expectation'",
    )


@pytest.mark.parametrize(
    ("line", "field", "listing"),
    [
        (2, "kinds", "did you mean kind? (an expectation has: apiVersion, kind, metadata, spec)"),
        (5, "metadata.ownr", "did you mean owner? (the metadata has: name, owner, description)"),
        (7, "spec.dedline", "did you mean deadline? (the spec has: correlate, deadline,"),
        (11, "spec.steps[0].withn", "did you mean within? (a step has: event, after, within,"),
        (14, "spec.compensation[0].expected", "did you mean expect? (a compensation has:"),
    ],
)
def test_an_unknown_field_is_refused_at_every_level_with_a_suggestion(
    line: int, field: str, listing: str
) -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kinds: Expectation
        metadata:
          name: demo
          ownr: me
        spec:
          dedline: 10m
          correlate: data.id
          steps:
            - event: A
              withn: 5m
          compensation:
            - trigger: R
              expected: S
        """,
    )
    expected = f"x.yaml:{line}: {field}: unknown field; {listing}"
    assert any(problem.startswith(expected) for problem in problems(path)), expected


def test_an_unknown_field_with_no_near_name_lists_the_fields_there_are() -> None:
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
              retries: 3
        """,
    )
    assert only_problem(path) == (
        "x.yaml:8: spec.steps[0].retries: unknown field (a step has: event, after, within, owner)"
    )


def test_a_value_of_the_wrong_type_is_named_with_what_was_expected() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata:
          name: demo
          owner: [team-a, team-b]
        spec:
          correlate: data.id
          steps:
            - event: 42
            - event: B
              after: A
            - C
        """,
    )
    assert problems(path) == (
        "x.yaml:5: metadata.owner: must be an owner, not a list",
        'x.yaml:9: spec.steps[0].event: the number 42 is not an event name; quote it ("42")'
        " if that is the name",
        "x.yaml:11: spec.steps[1].after: must be a list of step names, not the text 'A'; write [A]",
        "x.yaml:12: spec.steps[2]: must be a mapping (event, after, within, owner), not the"
        " text 'C'; write \"- event: C\"",
    )


def test_a_field_left_empty_is_refused_with_an_example() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: demo}
        spec:
          correlate:
          steps: [{event: A}]
        """,
    )
    assert only_problem(path) == (
        "x.yaml:5: spec.correlate: is empty; give a dotted path, e.g. data.rollout_id"
    )


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    path = write("x.yaml", "- event: A\n- event: B\n")
    assert only_problem(path) == (
        "x.yaml:1: the document: must be a mapping (apiVersion, kind, metadata, spec), not a list"
    )


@pytest.mark.parametrize("name", ["User-Service", "user_service", "-user", "user service"])
def test_an_expectation_name_outside_lowercase_digits_and_dashes_is_refused(name: str) -> None:
    path = write(
        "x.yaml",
        f"""\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata:
          name: {name}
        spec: {{correlate: data.id, steps: [{{event: A}}]}}
        """,
    )
    assert only_problem(path) == (
        f"x.yaml:4: metadata.name: {name!r} is not a valid name: use lowercase letters,"
        " digits and '-', starting with a letter or digit, e.g. user-service-v2"
    )


def test_a_name_written_as_a_block_scalar_is_refused_for_its_trailing_newline() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata:
          name: |
            demo
        spec: {correlate: data.id, steps: [{event: A}]}
        """,
    )
    assert only_problem(path).startswith("x.yaml:4: metadata.name: 'demo\\n' is not a valid name")


@pytest.mark.parametrize("correlate", ["data..id", ".data", "data.", "data. id"])
def test_a_correlation_path_must_be_names_joined_by_dots(correlate: str) -> None:
    path = write(
        "x.yaml",
        f"""\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {{name: demo}}
        spec:
          correlate: "{correlate}"
          steps: [{{event: A}}]
        """,
    )
    assert only_problem(path).startswith(
        f"x.yaml:5: spec.correlate: {correlate!r} is not a dotted path"
    )


def test_a_bad_duration_is_refused_wherever_it_is() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: demo}
        spec:
          correlate: data.id
          deadline: half an hour
          steps:
            - event: A
            - event: B
              after: [A]
            - event: C
              after: [B]
              within: 10 minutes
          compensation:
            - trigger: R
              expect: S
              within: 0s
        """,
    )
    assert problems(path) == (
        "x.yaml:6: spec.deadline: 'half an hour' is not a duration: write e.g. 90s, 10m,"
        " 1h30m, 2d or ISO 8601 PT10M",
        "x.yaml:13: spec.steps[2].within: '10 minutes' is not a duration: write e.g. 90s, 10m,"
        " 1h30m, 2d or ISO 8601 PT10M",
        "x.yaml:17: spec.compensation[0].within: '0s' is not a positive duration",
    )


def test_a_number_without_a_unit_is_not_a_duration() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: demo}
        spec:
          correlate: data.id
          deadline: 30
          steps:
            - event: A
              within: 1:30
        """,
    )
    assert problems(path) == (
        "x.yaml:6: spec.deadline: the number 30 is not a duration: give a unit, e.g. 30m or 30s",
        "x.yaml:9: spec.steps[0].within: the number 1:30 (YAML 1.1 reads it in base 60: 90)"
        " is not a duration: give a unit, e.g. 1h30m or 90s",
    )


def test_an_after_that_names_no_step_is_refused_with_the_nearest_name() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: demo}
        spec:
          correlate: data.id
          steps:
            - event: SchemaV2_Ready
            - event: UserServiceV2_Running
              after:
                - SchemaV2_Ready
                - SchemaV3_Ready
                - Quux
        """,
    )
    assert problems(path) == (
        "x.yaml:11: spec.steps[1].after[1]: 'SchemaV3_Ready' names no step of this"
        " expectation; did you mean SchemaV2_Ready?",
        "x.yaml:12: spec.steps[1].after[2]: 'Quux' names no step of this expectation;"
        " the steps are: SchemaV2_Ready, UserServiceV2_Running",
    )


def test_a_cycle_is_refused_naming_its_steps_in_order() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: demo}
        spec:
          correlate: data.id
          steps:
            - event: Start
            - event: A
              after: [Start, C]
            - event: B
              after: [A]
            - event: C
              after: [B]
            - event: End
              after: [C]
        """,
    )
    assert only_problem(path) == (
        "x.yaml:9: spec.steps[1].after: cycle A -> B -> C -> A: these steps wait for each"
        " other, so none of them can ever be due"
    )


def test_a_step_after_itself_is_a_cycle_and_each_separate_cycle_is_named() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: demo}
        spec:
          correlate: data.id
          steps:
            - event: Y
              after: [X]
            - event: X
              after: [Y]
            - event: Z
              after: [Z]
        """,
    )
    assert problems(path) == (
        "x.yaml:8: spec.steps[0].after: cycle Y -> X -> Y: these steps wait for each other,"
        " so none of them can ever be due",
        "x.yaml:12: spec.steps[2].after: cycle Z -> Z: the step waits for itself, so it can"
        " never be due",
    )


def test_a_step_declared_twice_is_refused_naming_the_first() -> None:
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
            - event: B
              after: [A]
            - event: A
              after: [B]
        """,
    )
    assert only_problem(path) == (
        "x.yaml:10: spec.steps[2].event: the step A is declared twice (first at line 7,"
        " spec.steps[0]); a step is named by its event type, so each event type can be one"
        " step only"
    )


def test_an_expectation_name_used_twice_across_files_names_both_places() -> None:
    first = write(
        "a/first.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata:
          name: demo
        spec: {correlate: data.id, steps: [{event: A}]}
        """,
    )
    second = write(
        "b/second.yaml",
        """\
        # the same name, by mistake
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: demo}
        spec: {correlate: data.id, steps: [{event: B}]}
        """,
    )
    assert only_problem(first, second) == (
        "b/second.yaml:4: metadata.name: 'demo' is already defined at a/first.yaml:4;"
        " expectation names must be unique across all files"
    )


def test_an_expectation_name_used_twice_in_one_file_is_refused() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: demo}
        spec: {correlate: data.id, steps: [{event: A}]}
        ---
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: demo}
        spec: {correlate: data.id, steps: [{event: B}]}
        """,
    )
    assert only_problem(path).startswith(
        "x.yaml:8: metadata.name: 'demo' is already defined at x.yaml:3;"
    )


def test_a_key_given_twice_in_one_mapping_is_refused() -> None:
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
              within: 5m
              within: 10m
        """,
    )
    assert only_problem(path) == (
        "x.yaml:9: spec.steps[0].within: given twice (first on line 8); keep one"
    )


def test_a_compensation_must_end_with_another_event_and_a_trigger_starts_one_only() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: demo}
        spec:
          correlate: data.id
          steps: [{event: A}]
          compensation:
            - trigger: Rollback
              expect: Rollback
              within: 5m
            - trigger: Rollback
              expect: Rollback_Done
              within: 5m
        """,
    )
    assert problems(path) == (
        "x.yaml:9: spec.compensation[0].expect: Rollback is also the trigger: the rollback"
        " would wait for the event that started it; name the event that ends the rollback",
        "x.yaml:11: spec.compensation[1].trigger: Rollback already triggers"
        " spec.compensation[0]; one trigger can start one rollback only",
    )


def test_every_problem_of_every_file_is_reported_at_once_in_file_and_line_order() -> None:
    first = write(
        "a.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: Bad_Name}
        spec:
          correlate: data.id
          steps:
            - event: A
              within: soon
              after: [Nothing]
        """,
    )
    second = write("b.yaml", "apiVersion: [unclosed\n")
    assert [problem.split(": ", 1)[0] for problem in problems(first, "missing.yaml", second)] == [
        "a.yaml:3",
        "a.yaml:8",
        "a.yaml:9",
        "missing.yaml:1",
        "b.yaml:2",
    ]
