"""The rules and the dashboard name only metrics that the sentinel exports.

Here the exposition is the metric catalogue's (`Metrics` on a fresh registry, every feature's
metrics included); test_rules_live.py checks a running `sentinel run`'s /metrics the same way.
"""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from sentinel.runtime.metrics import FEATURE_METRICS, Metrics

from .promql import (
    exported_metric_names,
    promql_metric_names,
    shipped_expressions,
    unknown_metric_names,
)


@pytest.fixture(scope="module")
def catalogue() -> str:
    """Every metric, those of every feature included (the registry's)."""
    registry = CollectorRegistry()
    Metrics(registry).schema_registry_up()
    return generate_latest(registry).decode()


def test_feature_metrics_are_registered_only_when_the_feature_asks_for_them() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    (registry_metrics,) = FEATURE_METRICS.values()
    assert registry_metrics.isdisjoint(exported_metric_names(generate_latest(registry).decode()))
    assert metrics.schema_registry_up() is metrics.schema_registry_up()
    assert registry_metrics <= exported_metric_names(generate_latest(registry).decode())


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (le, sink) (rate(foo_bucket{sink=~"a|b", x="sum(bar)"}[5m] offset 1h))'
            " / on (job) group_left (version) baz_info > bool 0",
            {"foo_bucket", "baz_info"},
        ),
        (
            "histogram_quantile(0.95, sum(rate(a_bucket[$__rate_interval])) by (le)) > 1e3",
            {"a_bucket"},
        ),
        ('absent(up{job="rollout-sentinel"})', {"up"}),
        ("time() - max(last_seconds > 0)", {"last_seconds"}),
        ("(a unless a offset 15m) or increase(b[15m:1m]) and c @ end()", {"a", "b", "c"}),
        ('{__name__="by_name"}', {"by_name"}),
        ("job:recorded_total:increase15m{kind='stall'} > 0", {"job:recorded_total:increase15m"}),
        ('label_values(sentinel_build_info{job=~"$job"}, instance)', {"sentinel_build_info"}),
        ("label_values(job)", set()),
    ],
)
def test_the_extractor_finds_every_metric_name_and_nothing_else(expr: str, names: set[str]) -> None:
    assert promql_metric_names(expr) == names


def test_exported_names_carry_the_suffixes_prometheus_stores(catalogue: str) -> None:
    exported = exported_metric_names(catalogue)
    # A labelled counter and histogram with no child yet: only their TYPE lines say so.
    assert {"sentinel_findings_total", "sentinel_events_total"} <= exported
    assert {
        "sentinel_step_wait_seconds_bucket",
        "sentinel_step_wait_seconds_sum",
        "sentinel_step_wait_seconds_count",
    } <= exported
    assert {"sentinel_build_info", "sentinel_up"} <= exported
    assert "sentinel_findings" not in exported
    assert "sentinel_step_wait_seconds" not in exported


def test_the_shipped_promql_is_found_in_rules_and_dashboard() -> None:
    where = {place.split(" ", 1)[0] for place, _ in shipped_expressions()}
    assert where == {"rule", "panel", "variable"}
    assert len(shipped_expressions()) > 40


def test_every_metric_in_the_rules_and_the_dashboard_is_exported(catalogue: str) -> None:
    assert unknown_metric_names(catalogue) == {}


def test_a_metric_that_is_not_exported_is_reported_with_where_it_is_used(
    catalogue: str,
) -> None:
    without_up = "\n".join(
        line for line in catalogue.splitlines() if not re.search(r"(^|\s)sentinel_up\s", line)
    )
    unknown = unknown_metric_names(without_up)
    assert unknown
    assert all(names == {"sentinel_up"} for names in unknown.values())
    assert "rule SentinelLoopStopped" in unknown
    assert "panel 'Sentinels running' query A" in unknown
