"""Valid files load into the model: documents, folders, and the warnings about steps that can
never be reported missing."""

from __future__ import annotations

from pathlib import Path

from sentinel.core.rules.expectations import Compensation, Expectation, Step

from .helpers import load, only_problem, write

CONTRACT_EXAMPLE = """\
apiVersion: sentinel/v1
kind: Expectation
metadata:
  name: user-service-v2          # required, unique across all files, [a-z0-9][a-z0-9-]*
  owner: team-identity           # optional: who is alerted
  description: free text         # optional
spec:
  correlate: data.rollout_id     # required: dotted path into the envelope
  deadline: 30m                  # optional
  steps:                         # required, at least one
    - event: SchemaV2_Ready      # a step is named by its event type
    - event: UserServiceV2_Running
      after: [SchemaV2_Ready]    # prerequisites: other steps of this expectation
      within: 10m                # due within 10m of its last prerequisite
      owner: team-users          # optional: overrides metadata.owner for this step's alerts
    - event: MessagingService_Reconfigured
      after: [UserServiceV2_Running]
      within: 5m
  compensation:                  # optional
    - trigger: Rollback_Initiated  # this event means the rollout is being rolled back
      expect: Rollback_Complete  # and this one must follow
      within: 15m
"""


def document(name: str, first_step: str = "A", deadline: str = "1h") -> str:
    return (
        f"apiVersion: sentinel/v1\nkind: Expectation\nmetadata: {{name: {name}}}\n"
        f"spec: {{correlate: data.id, deadline: {deadline}, steps: [{{event: {first_step}}}]}}\n"
    )


def test_the_contract_example_loads_into_the_expected_model() -> None:
    path = write("expectations/user-service-v2.yaml", CONTRACT_EXAMPLE)
    loaded = load(path)
    assert loaded.expectations == (
        Expectation(
            name="user-service-v2",
            owner="team-identity",
            description="free text",
            correlate="data.rollout_id",
            deadline=1800.0,
            steps=(
                Step("SchemaV2_Ready"),
                Step("UserServiceV2_Running", ("SchemaV2_Ready",), 600.0, "team-users"),
                Step("MessagingService_Reconfigured", ("UserServiceV2_Running",), 300.0),
            ),
            compensation=(Compensation("Rollback_Initiated", "Rollback_Complete", 900.0),),
            origin="expectations/user-service-v2.yaml:1",
        ),
    )
    assert loaded.warnings == ()
    assert loaded.files == (Path("expectations/user-service-v2.yaml"),)


def test_iso_durations_and_fan_in_steps_load() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: fan-in}
        spec:
          correlate: data.release
          deadline: PT2H
          steps:
            - {event: A}
            - {event: B, after: [A], within: PT20M}
            - {event: C, after: [A], within: 1h30m}
            - {event: D, after: [B, C], within: 90s}
        """,
    )
    (expectation,) = load(path).expectations
    assert expectation.deadline == 7200.0
    assert expectation.step_index["D"] == Step("D", ("B", "C"), 90.0)
    assert expectation.dependents["A"] == ("B", "C")
    assert [step.event for step in expectation.roots] == ["A"]


def test_every_document_of_a_file_loads_and_empty_documents_are_skipped() -> None:
    path = write("x.yaml", "---\n" + document("one") + "---\n---\n" + document("two") + "---\n")
    loaded = load(path)
    assert [(e.name, e.origin) for e in loaded.expectations] == [
        ("one", "x.yaml:2"),
        ("two", "x.yaml:8"),
    ]


def test_a_folder_loads_every_yaml_file_below_it_in_sorted_order() -> None:
    write("team/b.yaml", document("b"))
    write("team/a.yml", document("a"))
    write("team/nested/deeper/c.yaml", document("c"))
    write("team/schemas/A.json", "{}")
    write("team/examples/events.jsonl", "{}\n")
    write("team/README.md", "# not an expectation\n")
    loaded = load("team")
    assert loaded.files == (
        Path("team/a.yml"),
        Path("team/b.yaml"),
        Path("team/nested/deeper/c.yaml"),
    )
    assert [expectation.name for expectation in loaded.expectations] == ["a", "b", "c"]


def test_hidden_files_and_folders_are_skipped_so_a_mounted_configmap_loads_once() -> None:
    # What Kubernetes makes of a ConfigMap volume: the files behind `..data`, linked from the top.
    write("mounted/..2024_05_07_10_00_00.1234/demo.yaml", document("demo"))
    Path("mounted/..data").symlink_to("..2024_05_07_10_00_00.1234")
    Path("mounted/demo.yaml").symlink_to("..data/demo.yaml")
    write("mounted/.demo.yaml.swp", document("demo"))
    loaded = load("mounted")
    assert loaded.files == (Path("mounted/demo.yaml"),)
    assert [expectation.name for expectation in loaded.expectations] == ["demo"]


def test_a_file_named_twice_or_also_through_its_folder_is_read_once() -> None:
    path = write("team/a.yaml", document("a"))
    loaded = load(path, "team", "./team/a.yaml")
    assert loaded.files == (Path("team/a.yaml"),)
    assert len(loaded.expectations) == 1


def test_files_and_folders_can_be_mixed_and_names_must_differ_across_them() -> None:
    write("team/a.yaml", document("a"))
    path = write("other.yaml", document("a", first_step="B"))
    assert only_problem("team", path) == (
        "other.yaml:3: metadata.name: 'a' is already defined at team/a.yaml:3; expectation"
        " names must be unique across all files"
    )


def test_a_step_without_within_and_no_deadline_is_warned_about() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: demo}
        spec:
          correlate: data.rollout_id
          steps:
            - event: SchemaV2_Ready
            - event: UserServiceV2_Running
              after: [SchemaV2_Ready]
              within: 10m
            - event: MessagingService_Reconfigured
              after: [UserServiceV2_Running]
          compensation:
            - trigger: Rollback_Initiated
              expect: Rollback_Complete
        """,
    )
    loaded = load(path)
    assert len(loaded.expectations) == 1
    assert loaded.warnings == (
        "x.yaml:7: warning: spec.steps[0] (SchemaV2_Ready): a root step without 'within' in"
        " an expectation without 'deadline' can never be reported missing",
        "x.yaml:11: warning: spec.steps[2] (MessagingService_Reconfigured): a step without"
        " 'within' in an expectation without 'deadline' can never be reported missing",
        "x.yaml:14: warning: spec.compensation[0] (Rollback_Initiated): without 'within',"
        " Rollback_Complete can never be reported missing after a rollback starts",
    )


def test_a_deadline_covers_steps_without_a_window() -> None:
    path = write("x.yaml", document("demo", deadline="30m"))
    assert load(path).warnings == ()


def test_an_event_that_is_both_a_step_and_a_compensation_is_warned_about() -> None:
    path = write(
        "x.yaml",
        """\
        apiVersion: sentinel/v1
        kind: Expectation
        metadata: {name: demo}
        spec:
          correlate: data.id
          deadline: 1h
          steps: [{event: A}, {event: Undo, after: [A]}]
          compensation:
            - {trigger: Undo, expect: Undone, within: 5m}
        """,
    )
    assert load(path).warnings == (
        "x.yaml:9: warning: spec.compensation[0].trigger: Undo is also a step of this"
        " expectation; one event type should play one part",
    )
