"""Metric names in the PromQL of the alerting rules and the dashboard, against an exposition.

`unknown_metric_names(exposition)` takes the text of a `/metrics` page (the catalogue's
`generate_latest` output, or a running `sentinel run`'s) and returns, for every PromQL
expression that names a metric the page does not export, where it is and which names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from .tools import DASHBOARD, RULES

# Series that Prometheus writes itself for every scrape target, not the sentinel.
PROMETHEUS_SERIES = frozenset({"up"})

_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count"),
}
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"}
    | {"and", "or", "unless", "inf", "nan", "atan2"}
)
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_NAME_MATCHER = re.compile(r'__name__\s*=\s*"([^"]+)"')
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<arguments>.*)\)\s*$", re.DOTALL)
_IDENTIFIER = re.compile(r"(?<![\w:.$])[A-Za-z_:][\w:]*")


def exported_metric_names(exposition: str) -> set[str]:
    """The series names an exposition offers, from its samples and its # TYPE lines.

    A labelled family exports no sample until it has a child, so its TYPE line is what
    says that `x_total` (counter) or `x_bucket` (histogram) will be there.
    """
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            kind = kind.strip()
            if kind == "counter":
                names.add(name if name.endswith("_total") else f"{name}_total")
            elif kind == "info":
                names.add(name if name.endswith("_info") else f"{name}_info")
            else:
                names.update(f"{name}{suffix}" for suffix in _SUFFIXES.get(kind, ("",)))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def promql_metric_names(expr: str) -> set[str]:
    """Every metric name an expression selects (Grafana variables allowed)."""
    label_values = _LABEL_VALUES.match(expr)
    if label_values:
        # Grafana's label_values(label) or label_values(selector, label): only a selector names.
        selector, comma, _ = label_values["arguments"].rpartition(",")
        if not comma:
            return set()
        expr = selector
    named = set(_NAME_MATCHER.findall(expr))
    text = _STRING.sub('""', expr)
    text = _BRACES.sub("", text)
    text = _BRACKETS.sub("", text)
    text = _LABEL_LIST.sub(" ", text)
    for match in _IDENTIFIER.finditer(text):
        name = match.group()
        if name in _KEYWORDS or text[match.end() :].lstrip().startswith("("):
            continue
        named.add(name)
    return named


def rule_expressions(rules: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for group in rules["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            yield f"rule {name}", rule["expr"]


def recorded_names(rules: dict[str, Any]) -> set[str]:
    return {
        rule["record"] for group in rules["groups"] for rule in group["rules"] if "record" in rule
    }


def dashboard_expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} query {target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            yield f"variable {variable['name']}", text


def shipped_expressions() -> list[tuple[str, str]]:
    """Every PromQL expression of alerting/prometheus-rules.yaml and the dashboard."""
    rules = yaml.safe_load(RULES.read_text())
    dashboard = json.loads(DASHBOARD.read_text())
    return [*rule_expressions(rules), *dashboard_expressions(dashboard)]


def unknown_metric_names(
    exposition: str, rules_file: Path = RULES, optional: Iterable[str] = ()
) -> dict[str, set[str]]:
    """Where the shipped PromQL names a metric that this exposition does not export
    (`optional`: names allowed anyway, those of a feature the sentinel runs without)."""
    allowed = (
        exported_metric_names(exposition)
        | recorded_names(yaml.safe_load(rules_file.read_text()))
        | PROMETHEUS_SERIES
        | set(optional)
    )
    unknown: dict[str, set[str]] = {}
    for where, expr in shipped_expressions():
        missing = promql_metric_names(expr) - allowed
        if missing:
            unknown[where] = missing
    return unknown
