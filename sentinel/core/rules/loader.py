"""Reads expectation files into the model and says at which line, and why, one is wrong.

Every problem of every file is collected and raised once, each as one line
`path:line: field: what is wrong and how to fix it` (the checks: expectation_checks.py).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sentinel.core.errors import ExpectationFileError
from sentinel.core.rules.checks import check_document, check_unique_names
from sentinel.core.rules.expectations import Compensation, Expectation, Step
from sentinel.core.rules.located_yaml import Document, FieldPath, Report, read_file

_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedExpectations:
    """Every expectation of the given paths, the warnings about them, and the files read."""

    expectations: tuple[Expectation, ...]
    warnings: tuple[str, ...]
    files: tuple[Path, ...]


def load_expectations(paths: Sequence[str | Path]) -> LoadedExpectations:
    """Load files and folders (every *.yaml / *.yml below); raise ExpectationFileError if bad."""
    report = Report()
    files = _find_files(paths, report)
    documents = [document for file in files for document in read_file(file, report)]
    expectations = []
    for document in documents:
        before = report.problem_count
        durations = check_document(document, report)
        if report.problem_count == before:
            expectations.append(_build(document, durations, report))
    check_unique_names(documents, report)
    if report.problem_count:
        raise ExpectationFileError(report.problems())
    return LoadedExpectations(tuple(expectations), report.warnings(), tuple(files))


# --- finding and reading files ------------------------------------------------------------


def _find_files(paths: Sequence[str | Path], report: Report) -> list[Path]:
    found: list[Path] = []
    seen: set[str] = set()
    for given in paths:
        path = Path(given)
        try:
            if path.is_dir():
                inside = _yaml_files_under(path, report)
                if not inside:
                    report.problem(
                        str(path), 1, "no expectation file (*.yaml, *.yml) in this folder"
                    )
            elif path.exists():
                inside = [path]
            else:
                report.problem(str(path), 1, "no such file or folder")
                continue
            for file in inside:
                # The same file named twice (or through a folder and by name) is read once.
                identity = os.path.realpath(file)  # unlike Path.resolve, never raises
                if identity not in seen:
                    seen.add(identity)
                    found.append(file)
                    report.add_file(str(file))
        except OSError as error:
            report.problem(str(path), 1, f"cannot read: {error.strerror or error}")
    return found


def _yaml_files_under(folder: Path, report: Report) -> list[Path]:
    """YAML files below `folder`, sorted; hidden entries are skipped.

    Skipping them matters beyond editor backups: a Kubernetes ConfigMap mounted as a folder
    holds every file a second time under `..data/` and `..<timestamp>/`.
    """

    def unreadable(error: OSError) -> None:
        report.problem(str(error.filename), 1, f"cannot read: {error.strerror or error}")

    found: list[Path] = []
    for directory, subdirectories, filenames in os.walk(folder, onerror=unreadable):
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        found.extend(
            Path(directory, name)
            for name in filenames
            if name.endswith(_SUFFIXES) and not name.startswith(".")
        )
    return sorted(found)


# --- building the model -------------------------------------------------------------------


def _build(document: Document, durations: dict[FieldPath, float], report: Report) -> Expectation:
    """The model of a document that passed every check; warns about steps that cannot stall."""
    data = document.data
    spec = data["spec"]
    deadline = durations.get(("spec", "deadline"))
    steps = []
    for index, item in enumerate(spec["steps"]):
        within = durations.get(("spec", "steps", index, "within"))
        after = tuple(item.get("after", ()))
        steps.append(Step(item["event"], after, within, item.get("owner")))
        if within is None and deadline is None:
            which = "a root step" if not after else "a step"
            report.warning(
                document.file,
                document.line(("spec", "steps", index)),
                f"spec.steps[{index}] ({item['event']}): {which} without 'within' in an"
                " expectation without 'deadline' can never be reported missing",
            )
    compensations = []
    step_names = {step.event for step in steps}
    for index, item in enumerate(spec.get("compensation", ())):
        within = durations.get(("spec", "compensation", index, "within"))
        compensations.append(Compensation(item["trigger"], item["expect"], within))
        if within is None:
            report.warning(
                document.file,
                document.line(("spec", "compensation", index)),
                f"spec.compensation[{index}] ({item['trigger']}): without 'within',"
                f" {item['expect']} can never be reported missing after a rollback starts",
            )
        for role in ("trigger", "expect"):
            if item[role] in step_names:
                report.warning(
                    document.file,
                    document.line(("spec", "compensation", index, role)),
                    f"spec.compensation[{index}].{role}: {item[role]} is also a step of this"
                    " expectation; one event type should play one part",
                )
    metadata = data["metadata"]
    return Expectation(
        name=metadata["name"],
        correlate=spec["correlate"],
        steps=tuple(steps),
        owner=metadata.get("owner"),
        description=metadata.get("description"),
        deadline=deadline,
        compensation=tuple(compensations),
        origin=document.origin,
    )
