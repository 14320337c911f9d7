"""Finds helm, promtool, prometheus and the Kubernetes schema validator, and renders the chart
with them.

They are not Python dependencies: `make tools` (scripts/fetch-tools.sh) puts them in place.
A missing tool fails the test loudly with the command that installs it, never a skip.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".tools"
CHART = REPO / "helm" / "rollout-sentinel"
VALUES = Path(__file__).resolve().parent / "values"
ALERTING = REPO / "alerting"
RULES = ALERTING / "prometheus-rules.yaml"
DASHBOARD = ALERTING / "grafana-dashboard.json"
RULE_TESTS = ALERTING / "tests"

RELEASE = "sentinel"
NAMESPACE = "rollouts"

_HOW = "run `make tools` (scripts/fetch-tools.sh) to install it"


def _missing(tool: str, detail: str) -> None:
    pytest.fail(f"\n{'!' * 72}\n{tool} is missing: {detail}\n{_HOW}.\n{'!' * 72}", pytrace=False)


@functools.cache
def helm() -> str:
    local = TOOLS / "bin" / "helm"
    found = str(local) if local.is_file() else shutil.which("helm")
    if found is None:
        _missing("helm", f"neither {local} nor `helm` on PATH")
    assert found is not None
    return found


@functools.cache
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        _missing("promtool", "not on PATH (Debian package `prometheus`)")
    assert found is not None
    return found


@functools.cache
def prometheus() -> str:
    """The Prometheus server (Debian's package brings it with promtool)."""
    found = shutil.which("prometheus")
    if found is None:
        _missing("prometheus", "not on PATH (Debian package `prometheus`)")
    assert found is not None
    return found


@functools.cache
def kubernetes_validate_env() -> dict[str, str]:
    """The environment that runs `python -m kubernetes_validate` from .tools/pylib."""
    pylib = TOOLS / "pylib"
    if not (pylib / "kubernetes_validate").is_dir():
        _missing("kubernetes-validate", f"not in {pylib}")
    return {**os.environ, "PYTHONPATH": str(pylib)}


def run(*args: str, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    if check and result.returncode != 0:
        pytest.fail(
            f"`{' '.join(args)}` exited {result.returncode}:\n{result.stdout}\n{result.stderr}",
            pytrace=False,
        )
    return result


def _helm_args(values: tuple[str, ...], sets: tuple[str, ...]) -> list[str]:
    args = [f"--namespace={NAMESPACE}"]
    args += [f"--values={VALUES / name}" for name in values]
    args += [f"--set={item}" for item in sets]
    return args


@functools.cache
def _render(values: tuple[str, ...], sets: tuple[str, ...]) -> str:
    return run(helm(), "template", RELEASE, str(CHART), *_helm_args(values, sets)).stdout


def render(*values: str, sets: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The chart's manifests for these values files (names under tests/deploy/values)."""
    return [doc for doc in yaml.safe_load_all(_render(values, sets)) if doc]


def render_text(*values: str, sets: tuple[str, ...] = ()) -> str:
    return _render(values, sets)


def render_error(*values: str, sets: tuple[str, ...] = ()) -> str:
    """What helm says when it refuses to render these values (fails if it renders them)."""
    result = run(helm(), "template", RELEASE, str(CHART), *_helm_args(values, sets), check=False)
    if result.returncode == 0:
        pytest.fail(f"helm rendered values it should refuse: {values} {sets}", pytrace=False)
    return result.stderr


def lint(*values: str) -> subprocess.CompletedProcess[str]:
    return run(helm(), "lint", "--strict", str(CHART), *_helm_args(values, ()), check=False)


def kinds(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    return by_kind


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = kinds(docs).get(kind, [])
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def workload(docs: list[dict[str, Any]]) -> dict[str, Any]:
    found = [doc for doc in docs if doc["kind"] in ("StatefulSet", "Deployment")]
    assert len(found) == 1, [doc["kind"] for doc in found]
    return found[0]


def python() -> str:
    return sys.executable
