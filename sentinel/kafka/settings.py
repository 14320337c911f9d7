"""The `kafka:` section of the config: how the sentinel reaches and consumes the bus."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from sentinel.configkit import SECRET, Section

OffsetReset = Literal["latest", "earliest"]
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


@dataclass(frozen=True)
class KafkaSettings:
    """How to reach the bus and consume it (`kafka:`); secrets are kept out of `repr` (logs).

    Each default is written here once: `parse_kafka` reads the section from these fields.
    """

    topics: tuple[str, ...] = ()  # required: the check below says so in its own words
    bootstrap_servers: tuple[str, ...] = ("localhost:9092",)  # a list, or one comma string
    group_id: str = "rollout-sentinel"
    auto_offset_reset: OffsetReset = "latest"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = field(default=None, metadata=SECRET)
    sasl_password: str | None = field(default=None, repr=False, metadata=SECRET)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_password: str | None = field(default=None, repr=False, metadata=SECRET)
    ssl_check_hostname: bool = True
    client_id: str = "rollout-sentinel"
    session_timeout: float | None = None  # seconds; None keeps the client's default (10 s)
    # The longest the broker holds a fetch while the partitions have nothing new. An idle
    # partition is proved caught up by these answers (contract section 4), so this bounds how
    # long a due deadline waits: 0.1 s against aiokafka's 0.5 s took the p99 from a deadline
    # to its finding from 1.4-1.9 s to 0.4 s (bench.throughput_bench, one run each), for ten
    # small requests a second to an idle broker instead of two.
    fetch_max_wait: float = 0.1
    # Seconds without any answer from the broker before the bus counts as unreachable
    # (/readyz 503, every deadline held: contract section 7).
    unreachable_after: float = 10.0
    # After the broker stopped answering for a while, producers resend what they buffered:
    # for this long after it answers again, no partition counts as caught up (contract
    # section 4), so the events they created in time meet their deadlines.
    outage_grace: float = 5.0
    # Static group membership (KIP-345): a restarted member with the same id takes its
    # partitions back at once instead of waiting for the old one's session to expire. Given
    # inline, or from the environment (`group_instance_id_env: POD_NAME`).
    group_instance_id: str | None = field(default=None, metadata=SECRET)
    # Several replicas (state.mode: changelog) need each rollout in one partition. Unless the
    # producers key records by rollout, events go through a repartition topic first.
    input_keyed_by_rollout: bool = False
    repartition_partitions: int = field(default=6, metadata={"minimum": 1})
    # Replicas of the topics the sentinel creates (repartition, state changelog).
    replication_factor: int = field(default=3, metadata={"minimum": 1})


# Beyond this, an idle broker's answers would look like the gaps of an outage (kafka.source).
MAX_FETCH_WAIT_S = 1.0

# The loop's knobs that were once under `kafka:` (they are `watch:`'s now, and read from here
# with a warning).
MOVED = ("lag_threshold", "max_batch", "fetch_watchdog")


def parse_kafka(kafka: Section, base: Path) -> KafkaSettings:
    """Read `kafka:`; every wrong key or value is a ConfigError naming it. The keys of MOVED
    must have been taken first (`Section.take`)."""
    settings = kafka.read(KafkaSettings, base)
    servers = tuple(
        server.strip()
        for entry in settings.bootstrap_servers
        for server in entry.split(",")
        if server.strip()
    )
    if not servers:
        raise kafka.fail("bootstrap_servers", "must name at least one host:port")
    for topic in settings.topics:
        if not _TOPIC.fullmatch(topic):
            raise kafka.fail(
                "topics", f"{topic!r} is not a Kafka topic name (letters, digits, '.', '_', '-')"
            )
    if not settings.topics:
        raise kafka.fail("topics", "is required: the list of topics to watch")
    if settings.fetch_max_wait > MAX_FETCH_WAIT_S:
        raise kafka.fail(
            "fetch_max_wait",
            f"must be at most {MAX_FETCH_WAIT_S:g}s: a longer silence of the broker counts as an"
            " outage (contract section 4)",
        )
    settings = replace(settings, bootstrap_servers=servers)
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
