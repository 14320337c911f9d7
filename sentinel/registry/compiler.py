"""A registry schema compiled once with jsonschema-rs, its `$ref`s served from its references.

Purely computational: the references were fetched through the registry beforehand, and a
`$ref` to anything else is refused with its name, never fetched (the Confluent client would
fetch it over HTTP).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

import jsonschema_rs
import orjson

from sentinel.core.events.framing import SchemaRef
from sentinel.core.events.schemas import validation_errors
from sentinel.registry.client import RegisteredSchema
from sentinel.registry.failures import InvalidSchema, UnsupportedSchemaType

_NOT_DECLARED: Any = object()
# Where jsonschema-rs resolves a relative `$ref` when the schema has no `$id`.
DEFAULT_BASE = "json-schema:///"


class CompiledSchema:
    """A writer schema ready to check events; `check` is on the hot path."""

    __slots__ = ("_validator", "ref", "subject", "version")

    def __init__(
        self,
        validator: Any,
        ref: SchemaRef | None = None,
        subject: str | None = None,
        version: int | str | None = None,
    ) -> None:
        self._validator = validator
        self.ref = ref
        self.subject = subject
        self.version = version

    def check(self, data: Any) -> list[str]:
        """The validator's messages, as `SchemaRegistry.check` words them ([] = valid)."""
        return validation_errors(self._validator, data)

    def __repr__(self) -> str:
        return f"CompiledSchema({self.ref}, subject={self.subject!r}, version={self.version!r})"


def compile_schema(schema: RegisteredSchema, references: Mapping[str, Any]) -> CompiledSchema:
    """Compile `schema`; `references` maps each reference name to its document.

    Raises UnsupportedSchemaType (not JSON Schema) or InvalidSchema (what is wrong, and where).
    A schema without `$schema` is read as draft 7, the Confluent serializers' default.
    """
    name = schema.label
    if schema.schema_type.upper() != "JSON":
        raise UnsupportedSchemaType(
            f"{name} is an {schema.schema_type} schema; only JSON Schema can check JSON events",
            schema.schema_type,
        )
    try:
        document = orjson.loads(schema.text)
    except orjson.JSONDecodeError as error:
        raise InvalidSchema(f"{name}: the schema is not JSON ({error})") from None
    if not isinstance(document, dict | bool):
        raise InvalidSchema(f"{name}: a JSON Schema is an object or a boolean")
    refused: list[str] = []
    by_uri = _by_uri(references, document.get("$id") if isinstance(document, dict) else None)

    def retrieve(uri: str) -> Any:
        found = by_uri.get(uri.partition("#")[0], _NOT_DECLARED)
        if found is _NOT_DECLARED:
            refused.append(uri.removeprefix(DEFAULT_BASE))
            raise ValueError(f"$ref {uri} is not a declared reference")
        return found

    try:
        if isinstance(document, dict) and "$schema" in document:
            validator = jsonschema_rs.validator_for(document, retriever=retrieve)
        else:
            validator = jsonschema_rs.Draft7Validator(document, retriever=retrieve)
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as error:
        if refused:
            declared = ", ".join(sorted(references)) or "none"
            raise InvalidSchema(
                f"{name}: $ref {refused[0]} is not one of the schema's references in the "
                f"registry (declared: {declared}); nothing is fetched from other addresses"
            ) from None
        raise InvalidSchema(f"{name}: not a valid JSON Schema: {_first_line(error)}") from None
    return CompiledSchema(validator, schema.ref, schema.subject, schema.version)


def _by_uri(references: Mapping[str, Any], base: object) -> dict[str, Any]:
    """Each reference under the URIs a `$ref` to its name resolves to: the name as written,
    and resolved against the schema's `$id` or jsonschema-rs's default base."""
    by_uri: dict[str, Any] = {}
    for name, document in references.items():
        by_uri[name] = document
        if "://" not in name:  # urljoin does not know jsonschema-rs's own scheme
            by_uri[DEFAULT_BASE + name] = document
        if isinstance(base, str) and base:
            by_uri[urljoin(base, name)] = document
    return by_uri


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
