"""The chart's `tracing` values (docs/tracing.md, docs/deploy.md): rendered into the config's
`tracing:` section, OpenTelemetry's variables into the container, and refused when the pod
could not export (no collector, a header's variable that nothing sets)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from .tools import render, render_error, workload

MINIMAL = "minimal.yaml"
TRACING = "tracing.yaml"


def rendered_config(docs: list[dict[str, Any]]) -> dict[str, Any]:
    config_map = next(doc for doc in docs if doc["metadata"]["name"].endswith("-config"))
    config: dict[str, Any] = yaml.safe_load(config_map["data"]["config.yaml"])
    return config


def env(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    (container,) = workload(docs)["spec"]["template"]["spec"]["containers"]
    return {item["name"]: item for item in container["env"]}


def test_the_tracing_values_become_the_configs_tracing_section() -> None:
    docs = render(TRACING)
    assert rendered_config(docs)["tracing"] == {
        "trace_url": "https://grafana.example.internal/explore?traceId={trace_id}&spanId={span_id}",
        "otlp": {
            "endpoint": "http://otel-collector.observability:4318",
            "headers_env": {"x-scope-orgid": "TEMPO_TENANT"},
            "compression": "gzip",
            "timeout": "5s",
        },
        "resource": {"deployment.environment.name": "prod"},
    }
    variables = env(docs)
    assert variables["OTEL_SERVICE_NAME"]["value"] == "rollout-sentinel"
    assert variables["OTEL_RESOURCE_ATTRIBUTES"]["value"] == "k8s.cluster.name=prod-eu"
    # The tenant's header value is a secret: from the Secret, never in the ConfigMap.
    assert variables["TEMPO_TENANT"]["valueFrom"]["secretKeyRef"] == {
        "name": "tempo-tenant",
        "key": "org-id",
    }


def test_by_default_nothing_is_rendered_and_config_tracing_passes_through() -> None:
    assert "tracing" not in rendered_config(render(MINIMAL))
    assert not any(name.startswith("OTEL_") for name in env(render(MINIMAL)))
    docs = render(MINIMAL, sets=("config.tracing.trace_url=https://t.example/{trace_id}",))
    assert rendered_config(docs)["tracing"] == {"trace_url": "https://t.example/{trace_id}"}


def test_reading_no_trace_context_is_said_and_the_default_is_not() -> None:
    docs = render(MINIMAL, sets=("tracing.context=false",))
    assert rendered_config(docs)["tracing"] == {"context": False}
    assert "tracing" not in rendered_config(render(MINIMAL, sets=("tracing.context=true",)))


def test_the_collector_may_come_from_opentelemetrys_variable() -> None:
    docs = render(
        MINIMAL,
        sets=(
            "tracing.otlp.enabled=true",
            "tracing.env.OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318",
        ),
    )
    assert rendered_config(docs)["tracing"] == {"otlp": {"compression": "gzip", "timeout": "10s"}}
    assert env(docs)["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == "http://collector:4318"


def test_export_without_any_collector_is_refused() -> None:
    error = render_error(MINIMAL, sets=("tracing.otlp.enabled=true",))
    assert "tracing.otlp.endpoint" in error and "OTEL_EXPORTER_OTLP_ENDPOINT" in error


def test_a_header_variable_that_nothing_sets_is_refused() -> None:
    error = render_error(
        MINIMAL,
        sets=(
            "tracing.otlp.enabled=true",
            "tracing.otlp.endpoint=http://collector:4318",
            "tracing.otlp.headers_env.authorization=COLLECTOR_TOKEN",
        ),
    )
    assert "COLLECTOR_TOKEN" in error and "secretEnv" in error


def test_tracing_in_both_places_is_refused() -> None:
    error = render_error(
        MINIMAL, sets=("tracing.trace_url=https://a/{trace_id}", "config.tracing.context=false")
    )
    assert "config.tracing and tracing are both set" in error


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("tracing.env.SECRET_TOKEN=x", "SECRET_TOKEN"),
        ("tracing.otlp.compression=zstd", "compression"),
        ("tracing.otlp.endpoint=collector:4318", "endpoint"),
        ("tracing.otel.enabled=true", "otel"),
    ],
)
def test_a_wrong_tracing_value_is_rejected_by_the_schema(setting: str, named: str) -> None:
    assert named in render_error(MINIMAL, sets=(setting,))
