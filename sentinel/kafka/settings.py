"""The `kafka:` section of the config: how the sentinel reaches and consumes the bus."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sentinel.configkit import Section, existing_file

OffsetReset = Literal["latest", "earliest"]
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

OFFSET_RESETS: tuple[OffsetReset, ...] = ("latest", "earliest")
SECURITY_PROTOCOLS: tuple[SecurityProtocol, ...] = (
    "PLAINTEXT",
    "SSL",
    "SASL_PLAINTEXT",
    "SASL_SSL",
)
SASL_MECHANISMS: tuple[SaslMechanism, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


@dataclass(frozen=True)
class KafkaSettings:
    """How to reach the bus and consume it; secrets are kept out of `repr` (logs)."""

    topics: tuple[str, ...]
    bootstrap_servers: tuple[str, ...] = ("localhost:9092",)
    group_id: str = "rollout-sentinel"
    auto_offset_reset: OffsetReset = "latest"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_password: str | None = field(default=None, repr=False)
    ssl_check_hostname: bool = True
    client_id: str = "rollout-sentinel"
    lag_threshold: int = 100  # records; a partition further behind holds its rollouts' deadlines
    max_batch: int = 500
    session_timeout: float | None = None  # seconds; None keeps the client's default (10 s)
    fetch_watchdog: float = 60.0  # seconds without a fetch answer before the consumer is stuck
    # Seconds without any answer from the broker before the bus counts as unreachable
    # (/readyz 503, every deadline held: contract section 7).
    unreachable_after: float = 10.0
    # After the broker stopped answering for a while, producers resend what they buffered:
    # for this long after it answers again, no partition counts as caught up (contract
    # section 4), so the events they created in time meet their deadlines.
    outage_grace: float = 5.0
    # Static group membership (KIP-345): a restarted member with the same id takes its
    # partitions back at once instead of waiting for the old one's session to expire.
    group_instance_id: str | None = None
    # Several replicas (state.mode: changelog) need each rollout in one partition. Unless the
    # producers key records by rollout, events go through a repartition topic first.
    input_keyed_by_rollout: bool = False
    repartition_partitions: int = 6
    # Replicas of the topics the sentinel creates (repartition, state changelog).
    replication_factor: int = 3


def parse_kafka(kafka: Section, base: Path) -> KafkaSettings:
    """Read `kafka:`; every wrong key or value is a ConfigError naming it."""
    servers = tuple(
        server.strip()
        for entry in kafka.str_list("bootstrap_servers", ("localhost:9092",))
        for server in entry.split(",")
        if server.strip()
    )
    if not servers:
        raise kafka.fail("bootstrap_servers", "must name at least one host:port")
    topics: tuple[str, ...] = kafka.str_list("topics", ())
    for topic in topics:
        if not _TOPIC.fullmatch(topic):
            raise kafka.fail(
                "topics", f"{topic!r} is not a Kafka topic name (letters, digits, '.', '_', '-')"
            )
    protocol: SecurityProtocol = kafka.choice("security_protocol", SECURITY_PROTOCOLS, "PLAINTEXT")
    settings = KafkaSettings(
        topics=topics,
        bootstrap_servers=servers,
        group_id=kafka.string("group_id", "rollout-sentinel"),
        auto_offset_reset=kafka.choice("auto_offset_reset", OFFSET_RESETS, "latest"),
        security_protocol=protocol,
        sasl_mechanism=kafka.choice("sasl_mechanism", SASL_MECHANISMS, None),
        sasl_username=kafka.secret("sasl_username"),
        sasl_password=kafka.secret("sasl_password"),
        ssl_cafile=existing_file(kafka, "ssl_cafile", base),
        ssl_certfile=existing_file(kafka, "ssl_certfile", base),
        ssl_keyfile=existing_file(kafka, "ssl_keyfile", base),
        ssl_password=kafka.secret("ssl_password"),
        ssl_check_hostname=kafka.boolean("ssl_check_hostname", True),
        client_id=kafka.string("client_id", "rollout-sentinel"),
        lag_threshold=kafka.integer("lag_threshold", 100),
        max_batch=kafka.integer("max_batch", 500, minimum=1),
        session_timeout=kafka.duration("session_timeout", None),
        fetch_watchdog=kafka.duration("fetch_watchdog", 60.0),
        unreachable_after=kafka.duration("unreachable_after", 10.0),
        outage_grace=kafka.duration("outage_grace", 5.0),
        group_instance_id=kafka.secret("group_instance_id"),
        input_keyed_by_rollout=kafka.boolean("input_keyed_by_rollout", False),
        repartition_partitions=kafka.integer("repartition_partitions", 6, minimum=1),
        replication_factor=kafka.integer("replication_factor", 3, minimum=1),
    )
    kafka.done()
    if not topics:
        raise kafka.fail("topics", "is required: the list of topics to watch")
    _check_security(kafka, settings)
    return settings


def _check_security(kafka: Section, settings: KafkaSettings) -> None:
    protocol = settings.security_protocol
    if protocol.startswith("SASL_"):
        for key in ("sasl_mechanism", "sasl_username", "sasl_password"):
            if getattr(settings, key) is None:
                hint = "" if key == "sasl_mechanism" else f" (or {key}_env: VARIABLE_NAME)"
                raise kafka.fail(key, f"is required with security_protocol {protocol}{hint}")
    else:
        for key in ("sasl_mechanism", "sasl_username", "sasl_password"):
            if getattr(settings, key) is not None:
                raise kafka.fail(
                    key, f"needs security_protocol SASL_PLAINTEXT or SASL_SSL, not {protocol}"
                )
    if not protocol.endswith("SSL"):
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_password"):
            if getattr(settings, key) is not None:
                raise kafka.fail(key, f"needs security_protocol SSL or SASL_SSL, not {protocol}")
    if settings.ssl_keyfile is not None and settings.ssl_certfile is None:
        raise kafka.fail("ssl_keyfile", "needs ssl_certfile (the client certificate)")
    if settings.ssl_password is not None and settings.ssl_certfile is None:
        raise kafka.fail("ssl_password", "needs ssl_certfile and the encrypted ssl_keyfile")
