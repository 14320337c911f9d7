"""The embedded Tansu broker: starts on a free port, serves Kafka, and leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from sentinel.kafka.broker import BrokerError, EmbeddedBroker


def _wait_for_exit(process: subprocess.Popen[bytes], timeout_s: float = 5) -> int | None:
    deadline = time.monotonic() + timeout_s
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return process.poll()


@pytest.mark.broker
def test_a_started_broker_serves_kafka_and_a_stopped_one_is_gone(tmp_path: Path) -> None:
    log_path = tmp_path / "logs" / "tansu.log"
    with EmbeddedBroker(log_path=log_path) as broker:
        process = broker._process
        assert process is not None
        assert broker.bootstrap_servers == f"127.0.0.1:{broker.port}"
        assert process.poll() is None

    assert process.returncode is not None
    assert f"127.0.0.1:{broker.port}" in log_path.read_text()


@pytest.mark.broker
async def test_the_async_context_starts_and_stops_it_too() -> None:
    async with EmbeddedBroker() as broker:
        process = broker._process
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
        await producer.start()
        try:
            sent = await producer.send_and_wait("anything", b"x", partition=0)
        finally:
            await producer.stop()

    assert sent.offset == 0
    assert process is not None and process.returncode is not None


@pytest.mark.broker
async def test_topics_are_created_with_the_partitions_asked_for(
    broker: EmbeddedBroker, topic_factory
) -> None:
    topic = await topic_factory(partitions=4)

    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    await admin.start()
    try:
        (description,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assert len(description["partitions"]) == 4


@pytest.mark.broker
async def test_creating_an_existing_topic_fails_unless_that_is_allowed(
    broker: EmbeddedBroker, topic_factory
) -> None:
    topic = await topic_factory()

    with pytest.raises(BrokerError, match=f"cannot create topic {topic}"):
        await broker.create_topics([topic])
    await broker.create_topics([topic], exist_ok=True)


@pytest.mark.broker
def test_a_broker_started_by_a_thread_that_ends_is_stopped_with_it() -> None:
    if sys.platform != "linux":
        pytest.skip("parent-death signals are a Linux feature")
    broker = EmbeddedBroker()
    starter = threading.Thread(target=broker.start)
    starter.start()
    starter.join()
    process = broker._process
    assert process is not None

    assert _wait_for_exit(process) is not None


def test_a_broker_that_is_not_started_has_no_address() -> None:
    with pytest.raises(BrokerError, match="not started"):
        _ = EmbeddedBroker().bootstrap_servers


def test_a_binary_that_exits_at_once_is_reported_not_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CALF_TANSU_BIN", "/bin/false")
    started = time.monotonic()

    with pytest.raises(BrokerError, match="did not start: it kept exiting at start"):
        EmbeddedBroker().start()
    assert time.monotonic() - started < 5


def test_a_missing_binary_is_a_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CALF_TANSU_BIN", str(tmp_path / "no-such-tansu"))

    with pytest.raises(BrokerError, match="does not point at an executable file"):
        EmbeddedBroker().start()
