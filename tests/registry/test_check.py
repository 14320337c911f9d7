"""`sentinel check --registry URL`: per step, whether a writer and a reader schema exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.commands.main import main
from sentinel.core.rules.expectations import Compensation, Expectation, Step
from sentinel.registry.check import registry_report
from sentinel.registry.settings import RegistrySettings

from .fake_registry import FakeRegistry

ROLLOUT = Expectation(
    name="user-service-v2",
    correlate="data.rollout_id",
    steps=(Step("SchemaV2_Ready"), Step("UserServiceV2_Running", after=("SchemaV2_Ready",))),
    compensation=(Compensation("Rollback_Initiated", "Rollback_Complete"),),
    origin="rollouts.yaml:1",
)


def reader_schemas(folder: Path, *types: str) -> Path:
    for event_type in types:
        (folder / f"{event_type}.json").write_text('{"type": "object"}')
    return folder


async def test_each_step_says_which_writer_and_reader_schema_it_has(
    fake_registry: FakeRegistry, tmp_path: Path
) -> None:
    fake_registry.register("SchemaV2_Ready", {"title": "SchemaV2_Ready"})
    fake_registry.register("UserServiceV2_Running", {"title": "UserServiceV2_Running"})
    fake_registry.register(
        "Rollback_Initiated", '{"type": "record", "name": "R", "fields": []}', "AVRO"
    )
    schemas = reader_schemas(tmp_path, "SchemaV2_Ready", "Rollback_Initiated")

    lines = await registry_report(fake_registry.url, [ROLLOUT], schemas)

    assert lines == [
        f"rollouts.yaml:1: SchemaV2_Ready: writer schema subject 'SchemaV2_Ready' version 1 "
        f"(schema id 1); reader schema {schemas}/SchemaV2_Ready.json",
        "rollouts.yaml:1: warning: UserServiceV2_Running: writer schema subject "
        "'UserServiceV2_Running' version 1 (schema id 2); no reader schema "
        f"(UserServiceV2_Running.json in {schemas})",
        "rollouts.yaml:1: warning: Rollback_Initiated: writer schema subject "
        "'Rollback_Initiated' version 1 (schema id 3) is unusable: schema id 3 is an AVRO "
        "schema; only JSON Schema can check JSON events; "
        f"reader schema {schemas}/Rollback_Initiated.json",
        "rollouts.yaml:1: warning: Rollback_Complete: no writer schema (no subject "
        f"'Rollback_Complete' in the registry); no reader schema (Rollback_Complete.json in "
        f"{schemas})",
    ]


async def test_a_topic_template_is_checked_once_per_topic(
    fake_registry: FakeRegistry, tmp_path: Path
) -> None:
    fake_registry.register("rollouts-SchemaV2_Ready", {"type": "object"})
    settings = RegistrySettings(url=fake_registry.url, subject="{topic}-{type}")
    only_first = Expectation(
        name="x", correlate="data.id", steps=(Step("SchemaV2_Ready"),), origin="x.yaml:3"
    )

    lines = await registry_report(settings, [only_first], None, topics=["rollouts", "audit"])

    assert lines == [
        "x.yaml:3: warning: SchemaV2_Ready: writer schema subject 'rollouts-SchemaV2_Ready' "
        "version 1 (schema id 1); no writer schema (no subject 'audit-SchemaV2_Ready' in the "
        "registry); reader schema not checked (no --schemas)"
    ]


async def test_a_topic_template_without_topics_says_the_writer_side_is_not_checked(
    fake_registry: FakeRegistry,
) -> None:
    settings = RegistrySettings(url=fake_registry.url, subject="{topic}-value")
    only_first = Expectation(name="x", correlate="data.id", steps=(Step("A"),), origin="x.yaml:1")

    lines = await registry_report(settings, [only_first], None)

    assert lines == [
        "registry: the subject template '{topic}-value' uses {topic}: give the topics to "
        "check writer schemas",
        "x.yaml:1: A: writer schema not checked; reader schema not checked (no --schemas)",
    ]


async def test_a_registry_that_does_not_answer_is_one_clear_line(
    fake_registry: FakeRegistry,
) -> None:
    fake_registry.stop()
    settings = RegistrySettings(url=fake_registry.url, retries=0)

    lines = await registry_report(settings, [ROLLOUT], None)

    assert len(lines) == 1
    assert lines[0].startswith(f"registry: cannot check writer schemas: {fake_registry.url}/")
    assert "cannot connect" in lines[0]


def test_the_command_line_prints_the_report_and_fails_when_the_registry_is_unreachable(
    fake_registry: FakeRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped = Path(__file__).resolve().parents[2] / "expectations"
    for name in ("SchemaV2_Ready", "UserServiceV2_Running"):
        fake_registry.register(name, {"title": name})
    args = ["check", "--schemas", str(shipped / "schemas"), str(shipped)]
    assert main([*args[:1], "--registry", fake_registry.url, *args[1:]]) == 0
    err = capsys.readouterr().err
    assert "SchemaV2_Ready: writer schema subject 'SchemaV2_Ready' version 1" in err
    assert "warning: MessagingService_Reconfigured: no writer schema" in err
    fake_registry.stop()
    assert main([*args[:1], "--registry", fake_registry.url, *args[1:]]) == 1
    assert "registry: cannot check writer schemas" in capsys.readouterr().err
