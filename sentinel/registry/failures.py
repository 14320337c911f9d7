"""What can go wrong when asking a schema registry, each kind handled differently by the caller.

`RegistryUnavailable` is transient (the record waits and is retried); the others are answers
about one schema (the record is reported and processing goes on).
"""

from __future__ import annotations

from sentinel.core.errors import SentinelError


class RegistryError(SentinelError):
    """Root of the schema registry's errors; the message names the URL and what was wrong."""


class RegistryUnavailable(RegistryError):
    """No usable answer: connection refused, timeout, 5xx, 429 or an answer that is not the
    registry's (garbage, a redirect, a 404 without a registry error body)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        # Seconds the registry asked us to wait (429 Retry-After), when that is longer than
        # the client's own back-off: the caller's retry should not come sooner.
        self.retry_after = retry_after


class SchemaNotFound(RegistryError):
    """The registry answered that it has no such schema, subject or version (HTTP 404)."""


class UnsupportedSchemaType(RegistryError):
    """The schema exists but is not a JSON Schema (AVRO, PROTOBUF, ...): it cannot check JSON."""

    def __init__(self, message: str, schema_type: str) -> None:
        super().__init__(message)
        self.schema_type = schema_type


class InvalidSchema(RegistryError):
    """The registry's schema cannot be compiled: not JSON, not a valid JSON Schema, or a `$ref`
    that is not one of its declared references (nothing is fetched from a URL)."""
