"""Fixtures of the status tests (builders in `helpers`)."""

from __future__ import annotations

from typing import Any

import pytest

from sentinel.core.events.schemas import SchemaRegistry
from sentinel.core.rules.expectations import Expectation
from sentinel.core.rules.loader import load_expectations
from sentinel.status.from_log import report_from_log
from sentinel.status.period import Period

from .helpers import EXAMPLE_CLOCK, EXAMPLE_LOG, ROOT, Example, hostile_rollout


@pytest.fixture(scope="session")
def example() -> Example:
    loaded = load_expectations([ROOT / "expectations"])
    registry = SchemaRegistry.load(ROOT / "expectations" / "schemas")
    lines = EXAMPLE_LOG.read_bytes().splitlines()
    rollouts = report_from_log(lines, loaded.expectations, registry, Period(end=EXAMPLE_CLOCK))
    return Example(loaded.expectations, registry, rollouts, EXAMPLE_CLOCK)


@pytest.fixture
def hostile() -> tuple[dict[str, Any], Expectation, float]:
    return hostile_rollout()
