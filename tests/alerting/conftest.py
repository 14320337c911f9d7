"""Fake servers for the alerting tests, started on a free port and stopped after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .fakes import FakeReceiver, FakeSlack


@pytest.fixture
async def slack_api() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[FakeReceiver]:
    server = FakeReceiver(secret="s3cret")
    await server.start()
    yield server
    await server.stop()
