"""Reads expectation files into the model and says at which line, and why, one is wrong.

The shape of a document (fields, types, required keys) is the JSON Schema in
`expectation_format.schema.json`; what a schema cannot say (names, durations, the step graph,
uniqueness across files) is checked here. Every problem of every file is collected and raised
once, each as one line `path:line: field: what is wrong and how to fix it`.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from sentinel.durations import parse_duration
from sentinel.errors import ExpectationFileError
from sentinel.expectations import Compensation, Expectation, Step

# ("spec", "steps", 2, "within"): where a value is, as jsonschema's `absolute_path` says it.
FieldPath = tuple[str | int, ...]
Reporter = Callable[[FieldPath, str], None]

_SUFFIXES = (".yaml", ".yml")
_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_DOTTED = re.compile(r"[^.\s]+(?:\.[^.\s]+)*")
_BOOL_TAG = "tag:yaml.org,2002:bool"
_NULL_TAG = "tag:yaml.org,2002:null"
# Aliases can repeat a subtree many times over; no real expectation comes near this.
_MAX_VALUES = 100_000


@dataclass(frozen=True)
class LoadedExpectations:
    """Every expectation of the given paths, the warnings about them, and the files read."""

    expectations: tuple[Expectation, ...]
    warnings: tuple[str, ...]
    files: tuple[Path, ...]


def load_expectations(paths: Sequence[str | Path]) -> LoadedExpectations:
    """Load files and folders (every *.yaml / *.yml below); raise ExpectationFileError if bad."""
    report = _Report()
    files = _find_files(paths, report)
    documents = [document for file in files for document in _read_file(file, report)]
    expectations = []
    for document in documents:
        before = report.problem_count
        durations = _check_document(document, report)
        if report.problem_count == before:
            expectations.append(_build(document, durations, report))
    _check_unique_names(documents, report)
    if report.problem_count:
        raise ExpectationFileError(report.problems())
    return LoadedExpectations(tuple(expectations), report.warnings(), tuple(files))


class _Report:
    """Problems and warnings per file: files in the order given, each file's in line order."""

    def __init__(self) -> None:
        self._problems: dict[str, list[tuple[int, str]]] = {}
        self._warnings: dict[str, list[tuple[int, str]]] = {}
        self.problem_count = 0

    def add_file(self, file: str) -> None:
        self._problems.setdefault(file, [])
        self._warnings.setdefault(file, [])

    def problem(self, file: str, line: int, text: str) -> None:
        self.add_file(file)
        entry = (line, f"{file}:{line}: {text}")
        # jsonschema reports each missing key of a mapping on its own; say each once.
        if entry not in self._problems[file]:
            self._problems[file].append(entry)
            self.problem_count += 1

    def warning(self, file: str, line: int, text: str) -> None:
        self.add_file(file)
        self._warnings[file].append((line, f"{file}:{line}: warning: {text}"))

    def problems(self) -> tuple[str, ...]:
        return _in_line_order(self._problems)

    def warnings(self) -> tuple[str, ...]:
        return _in_line_order(self._warnings)

    def has_problems(self, file: str) -> bool:
        return bool(self._problems.get(file))


def _in_line_order(entries: dict[str, list[tuple[int, str]]]) -> tuple[str, ...]:
    return tuple(
        text
        for per_file in entries.values()
        for _, text in sorted(per_file, key=lambda entry: entry[0])
    )


# --- finding and reading files ------------------------------------------------------------


def _find_files(paths: Sequence[str | Path], report: _Report) -> list[Path]:
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


def _yaml_files_under(folder: Path, report: _Report) -> list[Path]:
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


def _read_file(file: Path, report: _Report) -> list[_Document]:
    name = str(file)
    try:
        raw = file.read_bytes()
    except OSError as error:
        report.problem(name, 1, f"cannot read: {error.strerror or error}")
        return []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        report.problem(
            name, line, f"not UTF-8 text (byte {raw[error.start]:#04x}); save it as UTF-8"
        )
        return []
    documents: list[_Document] = []
    try:
        for root in yaml.compose_all(text, Loader=yaml.SafeLoader):
            if isinstance(root, ScalarNode) and root.tag == _NULL_TAG:
                continue  # an empty document, e.g. a trailing `---`
            document = _Document(name, root)
            if _Converter(document, report).convert():
                documents.append(document)
    except yaml.YAMLError as error:
        report.problem(
            name, _yaml_error_line(error, text), f"not valid YAML: {_yaml_error_text(error)}"
        )
    except RecursionError:
        report.problem(name, 1, "not readable: the YAML is nested too deeply")
    if not documents and not report.has_problems(name):
        report.problem(name, 1, "holds no expectation: the file has no YAML document")
    return documents


def _yaml_error_line(error: yaml.YAMLError, text: str) -> int:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        if mark is not None:
            return mark.line + 1
    if isinstance(error, ReaderError):
        return text.count("\n", 0, error.position) + 1
    return 1


def _yaml_error_text(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError):
        text = error.problem or error.context or "cannot be parsed"
        if error.context and error.problem and error.context_mark is not None:
            text += f" ({error.context} on line {error.context_mark.line + 1})"
        return text
    if isinstance(error, ReaderError) and isinstance(error.character, int):
        return f"the character {error.character:#06x} is not allowed ({error.reason})"
    return str(error)


# --- YAML nodes to plain data, remembering where each value was ---------------------------


@dataclass
class _Document:
    """One YAML document: its plain data and, for each path into it, its key and value nodes."""

    file: str
    root: Node
    data: Any = None
    nodes: dict[FieldPath, tuple[Node | None, Node]] = field(default_factory=dict)
    # Keys that YAML 1.1 read as booleans (a bare `on:`), kept under their text.
    boolean_keys: set[FieldPath] = field(default_factory=set)

    def line(self, path: FieldPath) -> int:
        """The line of the key at `path` (of its value if it has no key, e.g. a list item).

        A path that does not exist (a missing field) points at its nearest existing parent.
        """
        while path not in self.nodes and path:
            path = path[:-1]
        key_node, value_node = self.nodes.get(path, (None, self.root))
        return int((key_node or value_node).start_mark.line) + 1

    @property
    def origin(self) -> str:
        return f"{self.file}:{self.line(())}"


class _TooLarge(Exception):
    """The document expands to more values than any expectation needs."""


class _Converter:
    """Turns a composed document into plain data: strings, numbers, booleans, lists, dicts."""

    def __init__(self, document: _Document, report: _Report) -> None:
        self.document = document
        self.report = report
        self.constructor = SafeConstructor()
        self.budget = _MAX_VALUES
        self.open: set[int] = set()
        self.own_keys: dict[int, set[int]] = {}

    def convert(self) -> bool:
        """Fill in the document; False if it cannot be used at all (problems reported)."""
        try:
            self.document.data = self.value(self.document.root, (), None)
        except _TooLarge:
            self.problem((), f"expands to more than {_MAX_VALUES} values (through aliases?)")
            return False
        return True

    def problem(self, path: FieldPath, text: str) -> None:
        self.report.problem(self.document.file, self.document.line(path), f"{_field(path)}: {text}")

    def value(self, node: Node, path: FieldPath, key_node: Node | None) -> Any:
        self.document.nodes[path] = (key_node, node)
        self.budget -= 1
        if self.budget < 0:
            raise _TooLarge
        if isinstance(node, ScalarNode):
            try:
                return self.constructor.construct_object(node, deep=True)
            # PyYAML's constructors fail in many ways on odd input (`!!bool maybe` is a
            # KeyError, `!!timestamp x` an AttributeError): each is a problem of the file.
            except Exception as error:
                kind = str(node.tag).removeprefix("tag:yaml.org,2002:")
                reason = ""
                if isinstance(error, yaml.YAMLError | ValueError):
                    text = _yaml_error_text(error) if isinstance(error, yaml.YAMLError) else error
                    reason = f" ({text})"
                self.problem(
                    path, f"{node.value!r} cannot be read as {kind}{reason}; quote it if it is text"
                )
                return None
        if id(node) in self.open:
            self.problem(path, "an alias here refers to a value that contains it")
            return None
        self.open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [
                    self.value(item, (*path, index), None) for index, item in enumerate(node.value)
                ]
            assert isinstance(node, MappingNode)
            return self.mapping(node, path)
        finally:
            self.open.discard(id(node))

    def mapping(self, node: MappingNode, path: FieldPath) -> dict[str, Any]:
        own = self.own_keys.setdefault(id(node), {id(key) for key, _ in node.value})
        try:
            self.constructor.flatten_mapping(node)  # resolves `<<: *anchor` merges
        except yaml.YAMLError as error:
            self.problem(path, f"cannot merge: {_yaml_error_text(error)}")
            return {}
        result: dict[str, Any] = {}
        own_seen: dict[str, Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                kind = "list" if isinstance(key_node, SequenceNode) else "mapping"
                self.report.problem(
                    self.document.file,
                    key_node.start_mark.line + 1,
                    f"{_field(path)}: a key must be a plain name, not a {kind}",
                )
                continue
            key = str(key_node.value)
            if key_node.tag == _BOOL_TAG:
                self.document.boolean_keys.add((*path, key))
            if id(key_node) in own:
                if key in own_seen:
                    first = own_seen[key].start_mark.line + 1
                    self.report.problem(
                        self.document.file,
                        key_node.start_mark.line + 1,
                        f"{_field((*path, key))}: given twice (first on line {first}); keep one",
                    )
                    continue
                own_seen[key] = key_node
            # Merged keys come first, so a key of the mapping itself overrides them.
            result[key] = self.value(value_node, (*path, key), key_node)
        return result


def _field(path: FieldPath) -> str:
    """`spec.steps[2].within` for ("spec", "steps", 2, "within")."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f"{'.' if text else ''}{part}"
    return text or "the document"


# --- the shape: JSON Schema, with each error told in the file's own terms -----------------


@cache
def _validator() -> Draft202012Validator:
    text = resources.files("sentinel").joinpath("expectation_format.schema.json").read_text()
    return Draft202012Validator(json.loads(text))


def _check_shape(document: _Document, report: _Report) -> None:
    for error in _validator().iter_errors(document.data):
        for path, text in _explain(document, error):
            report.problem(document.file, document.line(path), f"{_field(path)}: {text}")


def _explain(document: _Document, error: ValidationError) -> Iterator[tuple[FieldPath, str]]:
    path: FieldPath = tuple(error.absolute_path)
    schema: dict[str, Any] = error.schema  # type: ignore[assignment]
    instance: Any = error.instance
    if error.validator == "required":
        required: list[str] = error.validator_value  # type: ignore[assignment]
        for key in required:
            if key not in instance:
                about = schema["properties"][key].get("description", "")
                yield (*path, key), f"required field missing ({about})"
    elif error.validator == "additionalProperties":
        known = list(schema["properties"])
        fields = f"({schema['title']} has: {', '.join(known)})"
        for key in instance:
            if key in known:
                continue
            if (*path, key) in document.boolean_keys:
                value = SafeConstructor.bool_values[key.lower()]
                text = f"YAML 1.1 reads the bare key {key} as the boolean {str(value).lower()}"
                yield (*path, key), f"{text}, and there is no such field {fields}"
            else:
                close = difflib.get_close_matches(key, known, n=1)
                guess = f"; did you mean {close[0]}?" if close else ""
                yield (*path, key), f"unknown field{guess} {fields}"
    elif error.validator == "type":
        yield path, _wrong_type(document, path, instance, schema)
    elif error.validator == "const":
        yield path, f"must be {schema['const']}, not {_describe(document, path, instance)}"
    elif error.validator == "minItems":
        yield path, f"is an empty list; give {schema['description']}"
    elif error.validator == "minLength":
        yield path, f"is an empty string; give {schema['title']}"
    else:
        yield path, error.message


def _wrong_type(document: _Document, path: FieldPath, value: Any, schema: dict[str, Any]) -> str:
    expected, title = schema["type"], schema["title"]
    example = schema.get("examples", [None])[0]
    described = _describe(document, path, value)
    raw = _raw_text(document, path)
    if value is None:
        hint = f", e.g. {example}" if example else ""
        return f"is empty; give {title}{hint}"
    if expected == "string" and isinstance(value, bool):
        return (
            f"{described} is not {title}: YAML 1.1 reads a bare {raw} as a boolean;"
            f' quote it ("{raw}")'
        )
    if expected == "string" and isinstance(value, int | float | date):
        if title == "a duration":
            example = f"{raw}m or {raw}s" if raw.isdigit() else "1h30m or 90s"
            return f"{described} is not a duration: give a unit, e.g. {example}"
        return f'{described} is not {title}; quote it ("{raw}") if that is the name'
    if expected == "object":
        fields = ", ".join(schema["properties"])
        text = f"must be a mapping ({fields}), not {described}"
        if isinstance(value, str) and "event" in schema["properties"]:
            text += f'; write "- event: {value}"'
        return text
    if expected == "array" and isinstance(value, str) and schema["items"]["type"] == "string":
        return f"must be {title}, not {described}; write [{value}]"
    return f"must be {title}, not {described}"


def _raw_text(document: _Document, path: FieldPath) -> str:
    node = document.nodes.get(path, (None, document.root))[1]
    return str(node.value) if isinstance(node, ScalarNode) else ""


def _describe(document: _Document, path: FieldPath, value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if value is None:
        return "an empty value"
    if isinstance(value, int | float):
        raw = _raw_text(document, path)
        # YAML 1.1 reads `1:30` as 90: say so, or the message makes no sense.
        base_60 = f" (YAML 1.1 reads it in base 60: {value})" if ":" in raw else ""
        return f"the number {raw}{base_60}"
    if isinstance(value, date):
        return f"the date {_raw_text(document, path)}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{_raw_text(document, path)!r}"


# --- meaning: names, durations, the step graph --------------------------------------------


def _check_document(document: _Document, report: _Report) -> dict[FieldPath, float]:
    """Report every problem of one document; return the durations that could be read."""
    _check_shape(document, report)

    def problem(path: FieldPath, text: str) -> None:
        report.problem(document.file, document.line(path), f"{_field(path)}: {text}")

    data = _as_dict(document.data)
    metadata, spec = _as_dict(data.get("metadata")), _as_dict(data.get("spec"))
    name = metadata.get("name")
    if isinstance(name, str) and name and not _NAME.fullmatch(name):
        problem(
            ("metadata", "name"),
            f"{name!r} is not a valid name: use lowercase letters, digits and '-', starting"
            " with a letter or digit, e.g. user-service-v2",
        )
    correlate = spec.get("correlate")
    if isinstance(correlate, str) and not _DOTTED.fullmatch(correlate):
        problem(
            ("spec", "correlate"),
            f"{correlate!r} is not a dotted path: write field names joined by dots,"
            " e.g. data.rollout_id",
        )
    durations = {}
    for path in _duration_paths(spec):
        try:
            durations[path] = parse_duration(_at(data, path))
        except ValueError as error:
            problem(path, str(error))
    _check_steps(document, _as_list(spec.get("steps")), problem)
    _check_compensations(_as_list(spec.get("compensation")), problem)
    return durations


def _duration_paths(spec: dict[str, Any]) -> Iterator[FieldPath]:
    if isinstance(spec.get("deadline"), str):
        yield ("spec", "deadline")
    for section, items in (
        ("steps", spec.get("steps")),
        ("compensation", spec.get("compensation")),
    ):
        for index, item in enumerate(_as_list(items)):
            if isinstance(_as_dict(item).get("within"), str):
                yield ("spec", section, index, "within")


def _check_steps(document: _Document, steps: list[Any], problem: Reporter) -> None:
    declared: dict[str, int] = {}
    for index, step in enumerate(steps):
        event = _as_dict(step).get("event")
        if not isinstance(event, str) or not event:
            continue
        if event in declared:
            first = declared[event]
            where = f"line {document.line(('spec', 'steps', first))}, spec.steps[{first}]"
            problem(
                ("spec", "steps", index, "event"),
                f"the step {event} is declared twice (first at {where}); a step is named by"
                " its event type, so each event type can be one step only",
            )
        else:
            declared[event] = index
    edges: dict[str, list[str]] = {event: [] for event in declared}
    for index, step in enumerate(steps):
        event = _as_dict(step).get("event")
        for position, prerequisite in enumerate(_as_list(_as_dict(step).get("after"))):
            if not isinstance(prerequisite, str) or not prerequisite:
                continue
            if prerequisite in declared:
                if isinstance(event, str) and declared.get(event) == index:
                    edges[prerequisite].append(event)
                continue
            close = difflib.get_close_matches(prerequisite, list(declared), n=1)
            hint = f"did you mean {close[0]}?" if close else f"the steps are: {', '.join(declared)}"
            problem(
                ("spec", "steps", index, "after", position),
                f"{prerequisite!r} names no step of this expectation; {hint}",
            )
    for cycle in _cycles(edges):
        why = (
            "the step waits for itself, so it can never be due"
            if len(cycle) == 1
            else "these steps wait for each other, so none of them can ever be due"
        )
        problem(
            ("spec", "steps", declared[cycle[0]], "after"),
            f"cycle {' -> '.join([*cycle, cycle[0]])}: {why}",
        )


def _cycles(edges: dict[str, list[str]]) -> Iterator[list[str]]:
    """One cycle per tangle of the graph `prerequisite -> dependents`, in declaration order.

    Steps that cannot be on a cycle (nothing before them, or nothing after them, among the
    remaining steps) are pruned; every remaining step then has a successor that remains, so
    following successors from the first remaining step must come back to a step already seen.
    """
    remaining = dict.fromkeys(edges)
    while True:
        changed = True
        while changed:
            changed = False
            has_successor = {s for s in remaining if any(d in remaining for d in edges[s])}
            has_predecessor = {d for s in remaining for d in edges[s] if d in remaining}
            for step in list(remaining):
                if step not in has_successor or step not in has_predecessor:
                    del remaining[step]
                    changed = True
        if not remaining:
            return
        walk = [next(iter(remaining))]
        while True:
            successor = next(d for d in edges[walk[-1]] if d in remaining)
            if successor in walk:
                cycle = walk[walk.index(successor) :]
                break
            walk.append(successor)
        order = list(edges)
        start = min(range(len(cycle)), key=lambda i: order.index(cycle[i]))
        cycle = cycle[start:] + cycle[:start]
        yield cycle
        for step in cycle:
            del remaining[step]


def _check_compensations(compensations: list[Any], problem: Reporter) -> None:
    triggers: dict[str, int] = {}
    for index, item in enumerate(compensations):
        compensation = _as_dict(item)
        trigger, expect = compensation.get("trigger"), compensation.get("expect")
        if not isinstance(trigger, str) or not trigger:
            continue
        if trigger == expect:
            problem(
                ("spec", "compensation", index, "expect"),
                f"{expect} is also the trigger: the rollback would wait for the event that"
                " started it; name the event that ends the rollback",
            )
        if trigger in triggers:
            problem(
                ("spec", "compensation", index, "trigger"),
                f"{trigger} already triggers spec.compensation[{triggers[trigger]}]; one"
                " trigger can start one rollback only",
            )
        else:
            triggers[trigger] = index


# --- building the model -------------------------------------------------------------------


def _build(document: _Document, durations: dict[FieldPath, float], report: _Report) -> Expectation:
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


def _check_unique_names(documents: list[_Document], report: _Report) -> None:
    first: dict[str, str] = {}
    for document in documents:
        name = _as_dict(_as_dict(document.data).get("metadata")).get("name")
        if not isinstance(name, str):
            continue
        path: FieldPath = ("metadata", "name")
        where = f"{document.file}:{document.line(path)}"
        if name in first:
            report.problem(
                document.file,
                document.line(path),
                f"metadata.name: {name!r} is already defined at {first[name]}; expectation"
                " names must be unique across all files",
            )
        else:
            first[name] = where


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _at(data: Any, path: FieldPath) -> Any:
    for part in path:
        data = data[part]
    return data
