"""The `tracing:` section (contract section 13): context reading, the trace link template
and the OTLP endpoint, with the OpenTelemetry variables as fallback and errors that name
the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.alerting.sinks.otlp_settings import OtlpSettings
from sentinel.config import TracingSettings, load_config
from sentinel.core.engine.tracing import TraceOptions

from .test_config import MINIMAL, refused, write


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for variable in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(variable, raising=False)
    (tmp_path / "expectations").mkdir()
    (tmp_path / "schemas").mkdir()
    return tmp_path


def test_without_it_context_is_read_and_nothing_is_exported(folder: Path) -> None:
    config = load_config(write(folder, MINIMAL))
    assert config.tracing == TracingSettings()
    assert config.tracing.options == TraceOptions(True, None)
    assert config.tracing.otlp is None


def test_the_contract_example_is_read(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPO_TENANT", "team-a")
    text = MINIMAL + (
        "tracing:\n"
        "  context: false\n"
        '  trace_url: "https://tempo.example/trace/{trace_id}?span={span_id}"\n'
        "  otlp:\n"
        "    endpoint: http://otel-collector:4318/\n"
        "    headers_env: {x-scope-orgid: TEMPO_TENANT}\n"
        "    compression: none\n"
        "    timeout: 3s\n"
        "  resource: {deployment.environment.name: prod}\n"
    )
    tracing = load_config(write(folder, text)).tracing
    assert tracing.options == TraceOptions(
        False, "https://tempo.example/trace/{trace_id}?span={span_id}"
    )
    assert tracing.resource == {"deployment.environment.name": "prod"}
    assert tracing.otlp == OtlpSettings(
        "http://otel-collector:4318",
        {"x-scope-orgid": "team-a"},
        "none",
        3.0,
        {"deployment.environment.name": "prod"},
    )


def test_the_endpoint_may_come_from_the_opentelemetry_variables(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = MINIMAL + "tracing:\n  otlp: {}\n"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    otlp = load_config(write(folder, text)).tracing.otlp
    assert otlp is not None and (otlp.endpoint, otlp.full_url) == ("http://collector:4318", False)
    # The traces variable names the whole URL and wins, as in the OpenTelemetry SDKs.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://collector/v1/traces")
    otlp = load_config(write(folder, text)).tracing.otlp
    assert otlp is not None and (otlp.endpoint, otlp.full_url) == (
        "https://collector/v1/traces",
        True,
    )
    assert (otlp.compression, otlp.timeout) == ("gzip", 10.0)


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        ("  otlp: {}\n", "tracing.otlp.endpoint: is required (or set OTEL_EXPORTER_OTLP_ENDPOINT"),
        ("  otlp: {endpoint: collector:4318}\n", "must be an http:// or https:// URL"),
        ("  otlp: {endpoint: 'http://c:4318', compression: zstd}\n", "tracing.otlp.compression"),
        (
            "  otlp: {endpoint: 'http://c:4318', headers_env: {x-token: NOT_SET_ANYWHERE}}\n",
            "environment variable NOT_SET_ANYWHERE is not set",
        ),
        (
            '  trace_url: "https://tempo/{traceid}"\n',
            "'traceid' is not a placeholder: use {trace_id}",
        ),
        ("  contxt: true\n", "contxt"),
    ],
)
def test_mistakes_name_the_key(folder: Path, lines: str, words: str) -> None:
    assert words in refused(folder, MINIMAL + "tracing:\n" + lines)
