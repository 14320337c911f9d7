"""Fixtures for tests that need a real Kafka: one embedded broker per session, fresh topics."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest
from aiokafka import AIOKafkaProducer
from runtime.watcher_support import Process

from sentinel import speed
from sentinel.kafka.broker import EmbeddedBroker

if TYPE_CHECKING:
    from playwright.async_api import Browser

TopicFactory = Callable[..., Awaitable[str]]


class Produce(Protocol):
    """`await produce(topic, value, key=..., headers=...)` -> (partition, offset)."""

    async def __call__(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> tuple[int, int]: ...


# Fixtures that need a broker or a browser mark their tests, so that `make unit` (-m "not broker
# and not browser") leaves them out without each test file having to say so.
_BROKER_FIXTURES = frozenset({"broker", "private_broker", "processes"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & _BROKER_FIXTURES:
            item.add_marker(pytest.mark.broker)
        if "browser" in names:
            item.add_marker(pytest.mark.browser)
        if "wheel" in names:  # built once, by mypyc: a minute
            item.add_marker(pytest.mark.slow)


def pytest_report_header() -> str:
    """Whether these tests run the compiled hot path or the pure-Python one (`make test` runs
    the property tests on both)."""
    return speed.describe()


# The outcome of each test's call phase, for fixtures that say more when it failed.
CALL_FAILED = pytest.StashKey[bool]()
LOG_TAIL_LINES = 40


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


@pytest.fixture
def processes(request: pytest.FixtureRequest) -> Iterator[list[Process]]:
    """`sentinel run` processes a test started: killed if still running at its end; when the
    test failed, the end of each one's log and findings is printed (pytest shows it)."""
    started: list[Process] = []
    yield started
    for process in started:
        if process.popen.poll() is None:
            process.popen.kill()
            process.popen.wait()
    if request.node.stash.get(CALL_FAILED, False):
        for process in started:
            for path in (process.err, process.out):
                lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
                print(f"---- {path.name} (last {len(lines)} lines)", *lines, sep="\n")


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """The session's Tansu broker, started the first time a test asks for it."""
    log_path: Path = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log_path) as running:
        yield running


_topic_numbers = itertools.count()


@pytest.fixture
def topic_factory(broker: EmbeddedBroker, request: pytest.FixtureRequest) -> TopicFactory:
    """`await topic_factory(partitions=1)`: a new topic named after the test, created now."""

    async def create(partitions: int = 1) -> str:
        # Named after the test so that the broker's log reads; numbered so that it is unique.
        test = re.sub(r"[^A-Za-z0-9._-]", "-", request.node.name)[:180]
        name = f"{test}-{next(_topic_numbers)}"
        await broker.create_topics([name], partitions=partitions)
        return name

    return create


@pytest.fixture
async def produce(broker: EmbeddedBroker) -> AsyncIterator[Produce]:
    """Send records one by one, each acknowledged before the call returns."""
    producer: AIOKafkaProducer | None = None

    async def send(
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> tuple[int, int]:
        nonlocal producer
        if producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
            await producer.start()
        sent = await producer.send_and_wait(
            topic,
            value,
            key=key,
            headers=list(headers),
            partition=partition,
            timestamp_ms=timestamp_ms,
        )
        return sent.partition, sent.offset

    yield send
    if producer is not None:
        await producer.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Debian chromium, for tests marked `browser` (Playwright is imported only here:
    loading it costs every other run a second)."""
    from browser_support import CHROMIUM, CHROMIUM_ARGS  # noqa: PLC0415
    from playwright.async_api import async_playwright  # noqa: PLC0415

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()
