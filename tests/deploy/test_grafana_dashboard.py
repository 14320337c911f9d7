"""The Grafana dashboard: provisionable as is, and every query is PromQL that parses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .promql import dashboard_expressions
from .tools import DASHBOARD, promtool, run

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# What Grafana substitutes before a query reaches Prometheus, for promtool's parser.
GRAFANA_VARIABLES = {
    "$__rate_interval": "2m",
    "$__interval": "1m",
    "$__range": "6h",
    "$job": "rollout-sentinel",
    "$instance": ".*",
    "$expectation": ".*",
}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def test_the_dashboard_has_a_stable_uid_and_no_id(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "rollout-sentinel"
    assert dashboard["id"] is None
    assert dashboard["title"] == "Rollout sentinel"


def test_the_data_source_is_a_variable_not_an_import_input(dashboard: dict[str, Any]) -> None:
    assert "__inputs" not in dashboard
    assert "${DS_" not in DASHBOARD.read_text()
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE, variable["name"]


def test_every_panel_and_query_reads_the_chosen_data_source(dashboard: dict[str, Any]) -> None:
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]


def test_panels_have_unique_ids_and_refids_and_do_not_overlap(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids))
    taken: set[tuple[int, int]] = set()
    for panel in panels(dashboard):
        refs = [target["refId"] for target in panel.get("targets", [])]
        assert len(refs) == len(set(refs)), panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_the_panels_cover_rollouts_steps_events_kafka_delivery_and_health(
    dashboard: dict[str, Any],
) -> None:
    queries = [expr for _, expr in dashboard_expressions(dashboard)]

    def shown(pattern: str) -> bool:
        return any(re.search(pattern, query) for query in queries)

    assert shown(r"sum by \(expectation\) \(sentinel_rollouts_open")
    assert shown(r"sum by \(kind\) \(increase\(sentinel_findings_total")
    assert shown(r"histogram_quantile\(0\.95, .*sentinel_step_wait_seconds_bucket")
    assert shown(r'sum by \(type\) \(increase\(sentinel_events_total\{[^}]*outcome="invalid"')
    assert shown(r"sentinel_consumer_lag_records")
    assert shown(r"sentinel_alerts_sent_total")
    assert shown(r"sentinel_alert_outbox_depth")
    assert shown(r"sentinel_up") and shown(r"sentinel_ready") and shown(r"sentinel_build_info")


def test_every_query_is_promql_that_prometheus_parses(
    dashboard: dict[str, Any], tmp_path: Path
) -> None:
    records = []
    for number, (where, query) in enumerate(dashboard_expressions(dashboard)):
        # label_values() is Grafana's: only its selector is PromQL.
        expr = (
            query.removeprefix("label_values(").rpartition(",")[0]
            if query.startswith("label_values(")
            else query
        )
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"{where}: a variable promtool cannot stand in for"
        records.append({"record": f"dashboard:query:{number}", "expr": expr})
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    result = run(promtool(), "check", "rules", str(path), check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# The metrics whose samples carry exemplars (contract section 13): a query of another shows none.
EXEMPLAR_METRICS = re.compile(
    r"sentinel_(step_wait_seconds_bucket|rollout_duration_seconds_bucket|findings_total)\b"
)


def test_the_step_wait_and_rollout_duration_graphs_show_exemplars(
    dashboard: dict[str, Any],
) -> None:
    """Each dot a rollout's trace: the exemplar link of the data source opens it."""
    shown: dict[str, list[str]] = {}
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            if target.get("exemplar"):
                assert panel["type"] == "timeseries", f"{panel['title']}: a graph shows exemplars"
                assert EXEMPLAR_METRICS.search(target["expr"]), panel["title"]
                shown.setdefault(panel["title"], []).append(target["expr"])
    queries = " ".join(expr for exprs in shown.values() for expr in exprs)
    assert "sentinel_step_wait_seconds_bucket" in queries
    assert "sentinel_rollout_duration_seconds_bucket" in queries
    # One query per panel asks: two would draw every dot twice.
    assert all(len(exprs) == 1 for exprs in shown.values()), shown
