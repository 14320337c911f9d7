"""What an expectation document must be: its shape (the JSON Schema in
`expectation_format.schema.json`, each error told in the file's own terms) and what a schema
cannot say (names, durations, the step graph, uniqueness across files)."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode

from sentinel.core.durations import parse_duration
from sentinel.core.rules.located_yaml import Document, FieldPath, Report, Reporter, field_name

_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_DOTTED = re.compile(r"[^.\s]+(?:\.[^.\s]+)*")


# --- the shape: JSON Schema, with each error told in the file's own terms -----------------


@cache
def _validator() -> Draft202012Validator:
    text = (
        resources.files("sentinel.core.rules")
        .joinpath("expectation_format.schema.json")
        .read_text()
    )
    return Draft202012Validator(json.loads(text))


def check_shape(document: Document, report: Report) -> None:
    for error in _validator().iter_errors(document.data):
        for path, text in _explain(document, error):
            report.problem(document.file, document.line(path), f"{field_name(path)}: {text}")


def _explain(document: Document, error: ValidationError) -> Iterator[tuple[FieldPath, str]]:
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


def _wrong_type(document: Document, path: FieldPath, value: Any, schema: dict[str, Any]) -> str:
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


def _raw_text(document: Document, path: FieldPath) -> str:
    node = document.nodes.get(path, (None, document.root))[1]
    return str(node.value) if isinstance(node, ScalarNode) else ""


def _describe(document: Document, path: FieldPath, value: Any) -> str:
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


def check_document(document: Document, report: Report) -> dict[FieldPath, float]:
    """Report every problem of one document; return the durations that could be read."""
    check_shape(document, report)

    def problem(path: FieldPath, text: str) -> None:
        report.problem(document.file, document.line(path), f"{field_name(path)}: {text}")

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


def _check_steps(document: Document, steps: list[Any], problem: Reporter) -> None:
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


def check_unique_names(documents: list[Document], report: Report) -> None:
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
