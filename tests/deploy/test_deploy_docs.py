"""docs/deploy.md: its install command and its values examples render with the chart."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from .tools import CHART, REPO, helm, run

DOCS = REPO / "docs" / "deploy.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(DOCS.read_text()) if lang == language]


def values_examples() -> dict[str, str]:
    examples = {}
    for body in blocks("yaml"):
        first, _, rest = body.partition("\n")
        if first.startswith("# values: "):
            examples[first.removeprefix("# values: ")] = rest
    return examples


def helm_install_commands() -> list[list[str]]:
    commands = []
    for body in blocks("sh"):
        for line in body.replace("\\\n", " ").splitlines():
            if line.startswith("helm install "):
                commands.append(shlex.split(line))
    return commands


def test_the_docs_show_one_install_command_and_the_values_examples() -> None:
    assert len(helm_install_commands()) == 1
    assert {"monitoring.yaml", "kafka-and-slack.yaml", "changelog.yaml"} <= values_examples().keys()


def test_the_install_command_of_the_docs_renders() -> None:
    (command,) = helm_install_commands()
    release, chart, *options = command[2:]
    assert (REPO / chart).resolve() == CHART
    rendered = run(helm(), "template", release, str(CHART), *options).stdout
    kinds = [doc["kind"] for doc in yaml.safe_load_all(rendered) if doc]
    assert "StatefulSet" in kinds


@pytest.mark.parametrize("name", sorted(values_examples()))
def test_every_values_example_of_the_docs_renders(name: str, tmp_path: Path) -> None:
    values = yaml.safe_load(values_examples()[name])
    # Each example shows one concern; the expectations come from the install above.
    values.setdefault("expectations", {"existingConfigMaps": ["rollout-expectations"]})
    path = tmp_path / name
    path.write_text(yaml.safe_dump(values))
    run(helm(), "template", "sentinel", str(CHART), f"--values={path}")
    result = run(helm(), "lint", "--strict", str(CHART), f"--values={path}", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
