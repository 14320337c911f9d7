"""Where spans go (`tracing.otlp`, contract section 13): an OTLP/HTTP collector, its headers,
compression and timeout, and the resource the sentinel says it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sentinel.configkit import Section

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


@dataclass(frozen=True, slots=True)
class OtlpSettings:
    """An OTLP/HTTP protobuf endpoint; spans are POSTed to `<endpoint>/v1/traces` (unless the
    endpoint came from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, which names the full URL)."""

    endpoint: str
    headers: dict[str, str] = field(default_factory=dict)  # header -> value, from headers_env
    compression: str = "gzip"  # or none
    timeout: float = 10.0
    resource: dict[str, str] = field(default_factory=dict)  # from `tracing.resource`
    full_url: bool = False  # `endpoint` is already the traces URL
    name: str = "otlp"


def parse_otlp(section: Section, resource: dict[str, str], environ: dict[str, str]) -> OtlpSettings:
    """`tracing.otlp`; the endpoint from the section or else the OpenTelemetry variables."""
    endpoint = section.string("endpoint", None)
    full_url = False
    if endpoint is None:
        for variable in ENDPOINT_VARIABLES:
            if environ.get(variable):
                endpoint, full_url = environ[variable], variable == ENDPOINT_VARIABLES[0]
                break
    if endpoint is None:
        raise section.fail(
            "endpoint", "is required (or set OTEL_EXPORTER_OTLP_ENDPOINT in the environment)"
        )
    headers: dict[str, str] = {}
    for header, variable in section.str_map("headers_env").items():
        value = environ.get(variable)
        if not value:
            raise section.fail("headers_env", f"environment variable {variable} is not set")
        headers[header] = value
    compression = section.choice("compression", ("gzip", "none"), "gzip")
    timeout = section.duration("timeout", 10.0)
    section.done()
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise section.fail("endpoint", f"must be an http:// or https:// URL, not {endpoint!r}")
    return OtlpSettings(endpoint.rstrip("/"), headers, compression, timeout, resource, full_url)
