"""The Kafka source: its consumer settings per security mode, and its behaviour on a real broker."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from sentinel.core.errors import ConfigError, StoreError
from sentinel.core.events.records import Partition
from sentinel.kafka.options import consumer_kwargs
from sentinel.kafka.settings import KafkaSettings
from sentinel.kafka.source import KafkaSource

# A throwaway CA and a client certificate it signed (EC P-256, valid until 2126); the client
# key is encrypted with the password "hunter2".
CA_PEM = """-----BEGIN CERTIFICATE-----
MIIBjDCCATOgAwIBAgIUNTbFoQJThlNJ1/MQFH+LqjAbMz4wCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQc2VudGluZWwtdGVzdC1jYTAgFw0yNjExMjUxODMyNDRaGA8y
MTI2MTEwMTE4MzI0NFowGzEZMBcGA1UEAwwQc2VudGluZWwtdGVzdC1jYTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABNm5UTLP6q+0vN51gosqiCNCDlSJXzTC6qyl
tFgVpxy0lVMhpLA0wgCBzIFZDN5dauYqWDXJSlXDSZLFQYZ2UGujUzBRMB0GA1Ud
DgQWBBTv6axmlXGVE+YTm18YR17HpmbCxzAfBgNVHSMEGDAWgBTv6axmlXGVE+YT
m18YR17HpmbCxzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIB3Y
pvUcMnBQT+drcveQNJdLhe95gMJX4KvdzxgY4/QiAiApf98915Oa7jr8YJETARJ5
dso3+wm6r9TCy7JzYBEARA==
-----END CERTIFICATE-----
"""
CLIENT_PEM = """-----BEGIN CERTIFICATE-----
MIIBNjCB3QIUdH6wfUmn/MZUS6AjYmaxLLqVx3kwCgYIKoZIzj0EAwIwGzEZMBcG
A1UEAwwQc2VudGluZWwtdGVzdC1jYTAgFw0yNjExMjUxODMyNDRaGA8yMTI2MTEw
MTE4MzI0NFowHzEdMBsGA1UEAwwUc2VudGluZWwtdGVzdC1jbGllbnQwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAAQZeENoJvOL+1bVTF5AMe6TQ86BeRpTNEv5xZNH
IVKVnIg91I5h+3v1NnuqCsjW6gcy1VkNFQ2d8GpU+ZjHVbi1MAoGCCqGSM49BAMC
A0gAMEUCIETLPnAEVRRW1GyhFfXY3QP+ot0dHaZUweEK/bUSXIRhAiEAjxRgGZzw
elcO9nBdfWbA4twiyGcVCWWozEi/TZx066M=
-----END CERTIFICATE-----
"""
CLIENT_KEY_ENCRYPTED = """-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAj1jZf5HMwpRgICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEJ7Vip5uYwC4z3AOj4u5g44EgZCF
h6SM3wIDBucDo06GqCbvI1SP58hEnDTiawJVEQVICrUiQhJqY28HZqJQuv3mb3Ko
5ER/sza8LVcigF28WuoWqf/bno/iADPLxzl+ucaaVS4yVXhnNrodBAP4kaCr9+k6
az6UQ/ZQCqcE0AM7gQRGC+FMPV0VEoXcAMtfREuFMIDAOh+nmQWQVlGArFzfvSI=
-----END ENCRYPTED PRIVATE KEY-----
"""


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Path]:
    files = {"ca": CA_PEM, "cert": CLIENT_PEM, "key": CLIENT_KEY_ENCRYPTED}
    paths = {name: tmp_path / f"{name}.pem" for name in files}
    for name, text in files.items():
        paths[name].write_text(text)
    return paths


def test_plaintext_consumers_commit_only_by_hand_and_carry_no_security() -> None:
    kwargs = consumer_kwargs(
        KafkaSettings(topics=("rollouts",), bootstrap_servers=("a:9092", "b:9092"))
    )

    assert kwargs == {
        "bootstrap_servers": ["a:9092", "b:9092"],
        "client_id": "rollout-sentinel",
        "group_id": "rollout-sentinel",
        "auto_offset_reset": "latest",
        "enable_auto_commit": False,
        "security_protocol": "PLAINTEXT",
        "fetch_max_wait_ms": 100,  # an idle partition proves it caught up ten times a second
    }


def test_a_session_timeout_sets_heartbeats_to_a_third_of_it() -> None:
    kwargs = consumer_kwargs(KafkaSettings(topics=("rollouts",), session_timeout=6.0))

    assert kwargs["session_timeout_ms"] == 6000
    assert kwargs["heartbeat_interval_ms"] == 2000


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_plaintext_passes_mechanism_and_credentials_without_tls(mechanism: str) -> None:
    settings = KafkaSettings(
        topics=("rollouts",),
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,  # type: ignore[arg-type]
        sasl_username="sentinel",
        sasl_password="s3cret",
    )

    kwargs = consumer_kwargs(settings)

    assert kwargs["security_protocol"] == "SASL_PLAINTEXT"
    assert kwargs["sasl_mechanism"] == mechanism
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("sentinel", "s3cret")
    assert "ssl_context" not in kwargs


def test_sasl_ssl_verifies_the_broker_against_the_system_cas_by_default() -> None:
    settings = KafkaSettings(
        topics=("rollouts",),
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="sentinel",
        sasl_password="s3cret",
    )

    kwargs = consumer_kwargs(settings)

    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"


def test_ssl_loads_the_ca_and_an_encrypted_client_key_with_its_password(
    tls_files: dict[str, Path],
) -> None:
    settings = KafkaSettings(
        topics=("rollouts",),
        security_protocol="SSL",
        ssl_cafile=tls_files["ca"],
        ssl_certfile=tls_files["cert"],
        ssl_keyfile=tls_files["key"],
        ssl_password="hunter2",
        ssl_check_hostname=False,
    )

    kwargs = consumer_kwargs(settings)

    context = kwargs["ssl_context"]
    assert [ca["subject"] for ca in context.get_ca_certs()] == [
        ((("commonName", "sentinel-test-ca"),),)
    ]
    assert not context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert "sasl_mechanism" not in kwargs


def test_an_encrypted_client_key_without_its_password_is_a_config_error_not_a_prompt(
    tls_files: dict[str, Path],
) -> None:
    settings = KafkaSettings(
        topics=("rollouts",),
        security_protocol="SSL",
        ssl_certfile=tls_files["cert"],
        ssl_keyfile=tls_files["key"],
    )

    with pytest.raises(ConfigError, match=r"kafka\.ssl_certfile: cannot load the TLS files"):
        consumer_kwargs(settings)


def test_a_ca_file_that_is_not_a_certificate_is_a_config_error(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    settings = KafkaSettings(topics=("rollouts",), security_protocol="SSL", ssl_cafile=bogus)

    with pytest.raises(ConfigError, match=r"kafka\.ssl_cafile"):
        consumer_kwargs(settings)


# The tests below run against the session's embedded broker.


@pytest.mark.broker
async def test_records_arrive_with_key_headers_value_and_broker_timestamp(
    topic_factory, produce, start_source, fetch_at_least
) -> None:
    topic = await topic_factory()
    headers = [("ce_id", b"e-1"), ("ce_type", b"SchemaV2_Ready")]
    await produce(topic, b'{"a": 1}', key=b"r-1", headers=headers, timestamp_ms=1_795_600_800_250)
    await produce(topic, None, key=b"r-2")
    source = await start_source([topic])

    first, tombstone = await fetch_at_least(source, 2)

    assert (first.partition, first.offset) == ((topic, 0), 0)
    assert first.key == b"r-1"
    assert first.value == b'{"a": 1}'
    assert first.headers == tuple(headers)
    assert first.timestamp == 1_795_600_800.25
    assert (tombstone.offset, tombstone.key, tombstone.value, tombstone.headers) == (
        1,
        b"r-2",
        None,
        (),
    )
    assert tombstone.timestamp is not None
    assert abs(tombstone.timestamp - time.time()) < 60


@pytest.mark.broker
async def test_fetch_returns_nothing_once_its_timeout_passes_on_a_quiet_topic(
    topic_factory, start_source
) -> None:
    topic = await topic_factory()
    source = await start_source([topic])

    started = time.monotonic()
    records = await source.fetch(max_records=10, timeout_s=0.8)
    waited = time.monotonic() - started

    assert records == []
    assert 0.75 <= waited < 3
    assert await source.lags() == {(topic, 0): 0}
    # The broker answered the fetches, so a quiet bus is not a stuck consumer.
    assert source.last_fetch_ok is not None
    assert started - 0.1 <= source.last_fetch_ok <= time.monotonic()


@pytest.mark.broker
async def test_a_new_consumer_resumes_from_the_committed_offset(
    topic_factory, produce, start_source, fetch_at_least
) -> None:
    topic = await topic_factory()
    for number in range(5):
        await produce(topic, b"%d" % number)
    # Tansu lets a new member in only once the old one's session ran out, even after it left.
    first = await start_source([topic], group_id="resume-group", session_timeout=1.0)
    await fetch_at_least(first, 5)

    assert await first.commit({(topic, 0): 3}) is True
    await first.stop()
    second = await start_source([topic], group_id="resume-group", session_timeout=1.0)
    resumed = await fetch_at_least(second, 2)

    assert [record.offset for record in resumed] == [3, 4]
    assert await second.fetch(max_records=10, timeout_s=0.3) == []


@pytest.mark.broker
async def test_lag_counts_records_not_yet_returned_and_reaches_zero_when_caught_up(
    topic_factory, produce, start_source, fetch_at_least
) -> None:
    topic = await topic_factory()
    for number in range(5):
        await produce(topic, b"%d" % number)
    source = await start_source([topic])

    await fetch_at_least(source, 2)
    behind = await source.lags()
    await fetch_at_least(source, 3)
    caught_up = await source.lags()

    assert behind == {(topic, 0): 3}
    assert caught_up == {(topic, 0): 0}


@pytest.mark.broker
async def test_rebalances_are_reported_and_commits_skip_partitions_given_away(
    topic_factory, start_source, make_listener
) -> None:
    topic = await topic_factory(partitions=2)
    both = frozenset({(topic, 0), (topic, 1)})
    first_listener, second_listener = make_listener(), make_listener()
    first = await start_source([topic], listener=first_listener, group_id="rebalance-group")
    await first_listener.wait_holding(both)
    assert first.assigned() == both

    second = await start_source([topic], listener=second_listener, group_id="rebalance-group")
    await first_listener.wait_holding(first.assigned())
    await second_listener.wait_holding(second.assigned())
    kept = first.assigned()

    assert len(kept) == 1
    assert kept | second.assigned() == both
    assert ("revoked", both) in first_listener.calls
    assert await first.commit({(topic, 0): 0, (topic, 1): 0}) is False
    assert await first.commit(dict.fromkeys(kept, 0)) is True

    await second.stop()
    await first_listener.wait_holding(both)
    assert second_listener.calls[-1] == ("revoked", second_listener.calls[-2][1])
    assert all(partitions for _, partitions in first_listener.calls + second_listener.calls)


@pytest.mark.broker
async def test_a_commit_for_partitions_never_held_is_refused_quietly(
    topic_factory, start_source
) -> None:
    topic = await topic_factory()
    source = await start_source([topic])

    assert await source.commit({("some-other-topic", 0): 5}) is False
    assert await source.commit({}) is True


class SeekingListener:
    """Seeks as the watcher does on assignment: to the offset its state store remembers."""

    def __init__(self, stored: dict[Partition, int]) -> None:
        self.stored = stored
        self.source: KafkaSource | None = None

    async def on_revoked(self, partitions: frozenset[Partition]) -> None:
        pass

    async def on_assigned(self, partitions: frozenset[Partition]) -> None:
        assert self.source is not None
        for partition in partitions:
            await self.source.seek(partition, self.stored[partition])


@pytest.mark.broker
@pytest.mark.parametrize(("committed", "stored", "first_read"), [(1, 3, 3), (4, 2, 2)])
async def test_seek_reads_from_the_stored_offset_ahead_of_or_behind_the_committed_one(
    topic_factory, produce, kafka_settings, fetch_at_least, committed, stored, first_read
) -> None:
    topic = await topic_factory()
    for number in range(5):
        await produce(topic, b"%d" % number)
    settings = kafka_settings([topic], session_timeout=1.0)
    await _commit_once(settings, {(topic, 0): committed})
    listener = SeekingListener({(topic, 0): stored})
    source = listener.source = KafkaSource(settings)
    try:
        await source.start(listener)
        records = await fetch_at_least(source, 5 - first_read)
    finally:
        await source.stop()

    assert [record.offset for record in records] == list(range(first_read, 5))


async def _commit_once(settings: KafkaSettings, offsets: dict[Partition, int]) -> None:
    """Commit as a member of the group would, without joining it (no rebalance to wait for)."""
    consumer = AIOKafkaConsumer(**consumer_kwargs(settings))
    await consumer.start()
    try:
        consumer.assign([TopicPartition(*partition) for partition in offsets])
        await consumer.commit({TopicPartition(*p): offset for p, offset in offsets.items()})
    finally:
        await consumer.stop()


class FailingListener:
    """Cannot take partitions over (a state changelog that does not answer, say)."""

    def __init__(self) -> None:
        self.revoked: list[frozenset[Partition]] = []

    async def on_revoked(self, partitions: frozenset[Partition]) -> None:
        self.revoked.append(partitions)

    async def on_assigned(self, partitions: frozenset[Partition]) -> None:
        raise StoreError("cannot read the state changelog sentinel-changelog[0]: no answer")


@pytest.mark.broker
async def test_a_failed_take_over_stops_the_member_at_its_next_fetch_without_a_commit(
    topic_factory, produce, kafka_settings
) -> None:
    """aiokafka would log the callback's error and go on reading partitions whose state was
    never restored; their open rollouts would then never be reported."""
    topic = await topic_factory()
    await produce(topic, b"an event")
    settings = kafka_settings([topic])
    listener = FailingListener()
    source = KafkaSource(settings)
    await source.start(listener)
    try:
        deadline = time.monotonic() + 15
        while source.failure is None:
            assert time.monotonic() < deadline, "the group never assigned the partition"
            assert await source.fetch(10, 0.2) == [], "a record read after a failed take-over"
        with pytest.raises(StoreError, match="cannot read the state changelog"):
            await source.fetch(10, 0.2)
    finally:
        await source.stop()

    assert listener.revoked == [], "nothing is handed over (or committed) after the failure"
    assert await _committed(settings, (topic, 0)) is None


async def _committed(settings: KafkaSettings, partition: Partition) -> int | None:
    consumer = AIOKafkaConsumer(**consumer_kwargs(settings))
    await consumer.start()
    try:
        committed: int | None = await consumer.committed(TopicPartition(*partition))
        return committed
    finally:
        await consumer.stop()
