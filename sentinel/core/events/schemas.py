"""The schema registry: one JSON Schema per event type, compiled once (contract section 2).

Loading reads the directory (the only I/O here); after that, validation is pure. `$ref`
resolves only to files inside the schema directory, never over the network. Files whose
name starts with `_` hold shared definitions for `$ref` and are not event types.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import jsonschema
import jsonschema_rs
import orjson
import yaml

from sentinel.core.errors import SchemaDirError

SUFFIXES: Final = (".json", ".yaml", ".yml")
MAX_ERRORS: Final = 10


class SchemaRegistry:
    """Compiled validators by event type; `check` is the hot path."""

    def __init__(self, validators: Mapping[str, Any], directory: Path | None = None) -> None:
        self._validators = dict(validators)
        self.directory = directory

    @property
    def types(self) -> frozenset[str]:
        return frozenset(self._validators)

    def __len__(self) -> int:
        return len(self._validators)

    def check(self, event_type: str, data: Any) -> list[str] | None:
        """None when the type has no schema; otherwise the validator's messages ([] = valid)."""
        validator = self._validators.get(event_type)
        if validator is None:
            return None
        return validation_errors(validator, data)

    @classmethod
    def load(cls, directory: str | Path) -> SchemaRegistry:
        """Read and compile every `<type>.json|yaml|yml`; all problems are reported at once."""
        root = Path(directory)
        if not root.is_dir():
            raise SchemaDirError([f"{root}: no such schema directory"])
        base = root.resolve()
        problems: list[str] = []
        validators: dict[str, Any] = {}
        for path in sorted(root.iterdir()):
            if path.suffix not in SUFFIXES or not path.is_file() or path.name.startswith("_"):
                continue
            if path.stem in validators:
                problems.append(f"{path}: a second schema for event type {path.stem!r}")
                continue
            try:
                schema = _read_document(path)
                _check_schema(schema)
                validators[path.stem] = jsonschema_rs.validator_for(
                    schema,
                    base_uri=path.resolve().as_uri(),
                    retriever=_local_retriever(base),
                )
            except SchemaDirError as error:
                problems.extend(f"{path}: {problem}" for problem in error.problems)
            except (ValueError, jsonschema_rs.ReferencingError) as error:
                problems.append(f"{path}: {_first_line(str(error))}")
        if problems:
            raise SchemaDirError(problems)
        return cls(validators, root)


def validation_errors(validator: Any, data: Any) -> list[str]:
    """A jsonschema-rs validator's messages about `data`, each prefixed with the JSON pointer
    of the offending value, at most MAX_ERRORS of them ([] when valid)."""
    if validator.is_valid(data):
        return []
    messages = []
    for error in validator.iter_errors(data):
        where = "/" + "/".join(str(part) for part in error.instance_path)
        messages.append(f"{where}: {error.message}")
        if len(messages) == MAX_ERRORS:
            messages.append("(further errors not shown)")
            break
    return messages


def _read_document(path: Path) -> Any:
    try:
        text = path.read_bytes()
        document = orjson.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except OSError as error:
        raise SchemaDirError([f"cannot read: {error.strerror}"]) from None
    except (orjson.JSONDecodeError, yaml.YAMLError) as error:
        kind = path.suffix[1:].upper()
        raise SchemaDirError([f"not valid {kind}: {_first_line(str(error))}"]) from None
    if not isinstance(document, dict | bool):
        raise SchemaDirError(["a schema must be a JSON object"])
    return document


def _check_schema(schema: Any) -> None:
    """Refuse a schema that is not valid under its own draft, with jsonschema's message."""
    validator_class = jsonschema.validators.validator_for(
        schema, default=jsonschema.Draft202012Validator
    )
    try:
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as error:
        where = "/".join(str(part) for part in error.path) or "the top level"
        raise SchemaDirError([f"invalid JSON Schema at {where}: {error.message}"]) from None


def _local_retriever(base: Path) -> Any:
    def retrieve(uri: str) -> Any:
        if not uri.startswith("file://"):
            raise ValueError(f"$ref {uri} is outside the schema directory; only local refs resolve")
        target = Path(uri.removeprefix("file://").split("#", 1)[0]).resolve()
        if not target.is_relative_to(base):
            raise ValueError(f"$ref {uri} is outside the schema directory {base}")
        if not target.is_file():
            raise ValueError(f"$ref {uri}: no such file in the schema directory")
        return _read_document(target)

    return retrieve


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
