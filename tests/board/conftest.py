"""Fixtures of the board tests: a started sentinel over the contract's example expectation and
a second one, and the events that put rollouts in every state; and a sentinel that has replayed
the shipped example log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from engine.helpers import MIN, T0, event, user_service
from status.helpers import EXAMPLE_CLOCK, EXAMPLE_LOG, ROOT

from sentinel.core.engine.tracing import DEFAULT_TRACING, TraceOptions
from sentinel.core.events.decoders import LineDecoder
from sentinel.core.events.envelope import Envelope
from sentinel.core.events.schemas import SchemaRegistry
from sentinel.core.rules.expectations import Expectation, Step
from sentinel.core.rules.loader import load_expectations

from .server import Sentinel

NAME = "user-service-v2"
StartSentinel = Callable[..., Awaitable[Sentinel]]
StartExample = Callable[..., Awaitable[Sentinel]]


def billing() -> Expectation:
    """A second expectation, of another team, for the filters."""
    return Expectation(
        name="billing-v3",
        owner="team-billing",
        correlate="data.rollout_id",
        steps=(Step("Ledger_Migrated"), Step("Invoices_Switched", after=("Ledger_Migrated",))),
    )


def every_state() -> list[Envelope]:
    """Read at T0+12m: `done` completed, `stuck` stalled (due T0+10m), `back` rolling back,
    `fresh` waiting inside its window, `ledger` a billing rollout."""
    return [
        event("SchemaV2_Ready", T0, "done", "e-done-1"),
        event("UserServiceV2_Running", T0 + MIN, "done", "e-done-2"),
        event("MessagingService_Reconfigured", T0 + 2 * MIN, "done", "e-done-3"),
        event("SchemaV2_Ready", T0, "stuck", "e-stuck-1"),
        event("SchemaV2_Ready", T0 + MIN, "back", "e-back-1"),
        event("Rollback_Initiated", T0 + 3 * MIN, "back", "e-back-2"),
        event("SchemaV2_Ready", T0 + 8 * MIN, "fresh", "e-fresh-1"),
        event("Ledger_Migrated", T0 + 9 * MIN, "ledger", "e-ledger-1"),
    ]


@pytest.fixture
async def start_sentinel() -> AsyncIterator[StartSentinel]:
    """`await start_sentinel(**Sentinel options)`: started, stopped after the test."""
    started: list[Sentinel] = []

    async def start(**options: Any) -> Sentinel:
        options.setdefault("wall_clock", T0)
        sentinel = Sentinel([user_service(), billing()], **options)
        started.append(await sentinel.start())
        return sentinel

    yield start
    for sentinel in started:
        await sentinel.stop()


@pytest.fixture
async def sentinel(start_sentinel: StartSentinel) -> Sentinel:
    """A sentinel that has read `every_state()` at T0+12m."""
    running = await start_sentinel()
    running.events(every_state(), T0 + 12 * MIN)
    return running


def example_sentinel(*extra: Expectation, tracing: TraceOptions = DEFAULT_TRACING) -> Sentinel:
    """The shipped example in a sentinel, not started: its expectations (and `extra`) and
    schemas, and its event log replayed as `sentinel replay` reads a file, the clock then moved
    to EXAMPLE_CLOCK (every stall of the log has fired). The rollouts the status tests'
    `example` fixture builds, held here by the real engine and store; `tracing` as
    `tracing:` would set it."""
    loaded = load_expectations([ROOT / "expectations"])
    registry = SchemaRegistry.load(ROOT / "expectations" / "schemas")
    sentinel = Sentinel(
        [*loaded.expectations, *extra],
        decoder=LineDecoder(),
        schemas=registry,
        wall_clock=EXAMPLE_CLOCK,
        tracing=tracing,
    )
    sentinel.replay(EXAMPLE_LOG.read_bytes().splitlines(), until=EXAMPLE_CLOCK)
    return sentinel


@pytest.fixture
async def start_example() -> AsyncIterator[StartExample]:
    """`await start_example(*extra expectations, tracing=...)`: `example_sentinel`, started,
    stopped after the test."""
    started: list[Sentinel] = []

    async def start(*extra: Expectation, tracing: TraceOptions = DEFAULT_TRACING) -> Sentinel:
        sentinel = example_sentinel(*extra, tracing=tracing)
        started.append(await sentinel.start())
        return sentinel

    yield start
    for sentinel in started:
        await sentinel.stop()
