"""Files that cannot be read as YAML, and paths that hold no file, are problems with a line too;
no YAML or OS error ever reaches the user as a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import load, only_problem, problems, write

VALID = """\
apiVersion: sentinel/v1
kind: Expectation
metadata: {name: demo}
spec: {correlate: data.id, deadline: 1h, steps: [{event: A}]}
"""


def test_a_yaml_syntax_error_is_reported_at_the_line_of_the_error() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata:
          name: demo
        spec:
          correlate: data.id
          steps: [{event: A}
          deadline: 1h
        """,
    )
    assert only_problem(path) == (
        "x.yaml:8: not valid YAML: expected ',' or ']', but got '<scalar>'"
        " (while parsing a flow sequence on line 7)"
    )


def test_documents_before_a_syntax_error_are_still_checked() -> None:
    path = write("x.yaml", VALID.replace("name: demo", "name: Demo") + "---\nkey: [\n")
    assert [problem.split(": ", 1)[0] for problem in problems(path)] == ["x.yaml:3", "x.yaml:7"]


def test_a_control_character_is_reported_at_its_line() -> None:
    path = write("x.yaml", VALID + "# bell \x07\n")
    assert only_problem(path) == (
        "x.yaml:5: not valid YAML: the character 0x0007 is not allowed (special characters"
        " are not allowed)"
    )


def test_a_file_that_is_not_utf8_is_reported_at_the_line_of_the_bad_byte() -> None:
    Path("x.yaml").write_bytes(VALID.encode() + b"# caf\xe9\n")
    assert only_problem("x.yaml") == "x.yaml:5: not UTF-8 text (byte 0xe9); save it as UTF-8"


def test_a_byte_order_mark_is_accepted() -> None:
    Path("x.yaml").write_bytes(b"\xef\xbb\xbf" + VALID.encode())
    assert [expectation.name for expectation in load("x.yaml").expectations] == ["demo"]


@pytest.mark.parametrize(
    ("value", "text", "reason"),
    [
        ("!!bool maybe", "maybe", "bool"),
        ("!!timestamp soon", "soon", "timestamp"),
        ("2024-02-30", "2024-02-30", "timestamp (day is out of range for month)"),
        ("!custom A", "A", "!custom (could not determine a constructor for the tag '!custom')"),
    ],
)
def test_a_value_yaml_cannot_construct_is_a_problem_at_its_line(
    value: str, text: str, reason: str
) -> None:
    path = write("x.yaml", VALID + f"extra: {value}\n")
    assert problems(path)[0] == (
        f"x.yaml:5: extra: {text!r} cannot be read as {reason}; quote it if it is text"
    )


def test_an_alias_to_the_value_that_contains_it_is_a_problem() -> None:
    path = write("x.yaml", VALID + "extra: &loop [*loop]\n")
    assert problems(path)[0] == (
        "x.yaml:5: extra[0]: an alias here refers to a value that contains it"
    )


def test_anchors_and_merge_keys_share_fields_between_steps() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: demo}
        spec:
          correlate: data.id
          steps:
            - &base {event: A, within: 5m, owner: team-a}
            - <<: *base
              event: B
              after: [A]
              within: 10 minutes
        """,
    )
    assert only_problem(path).startswith("x.yaml:11: spec.steps[1].within: '10 minutes'")


def test_an_empty_file_holds_no_expectation() -> None:
    path = write("x.yaml", "# nothing here yet\n---\n")
    assert only_problem(path) == "x.yaml:1: holds no expectation: the file has no YAML document"


def test_a_missing_path_is_a_problem() -> None:
    assert only_problem("nowhere/x.yaml") == "nowhere/x.yaml:1: no such file or folder"


def test_a_folder_without_yaml_files_is_a_problem() -> None:
    write("empty/notes.txt", "not yaml\n")
    assert only_problem("empty") == "empty:1: no expectation file (*.yaml, *.yml) in this folder"


def test_a_file_that_cannot_be_read_is_a_problem() -> None:
    write("folder/good.yaml", VALID)
    Path("folder/loop.yaml").symlink_to("loop.yaml")
    assert only_problem("folder") == (
        "folder/loop.yaml:1: cannot read: Too many levels of symbolic links"
    )
