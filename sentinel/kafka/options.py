"""How to reach the cluster: consumer, producer and admin arguments from the settings, topics."""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.helpers import create_ssl_context

from sentinel.core.errors import ConfigError
from sentinel.kafka.settings import KafkaSettings
from sentinel.kafka.topics import create_topics


def consumer_kwargs(settings: KafkaSettings) -> dict[str, Any]:
    """AIOKafkaConsumer's arguments for these settings: manual commits, security applied."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": list(settings.bootstrap_servers),
        "client_id": settings.client_id,
        "group_id": settings.group_id,
        "auto_offset_reset": settings.auto_offset_reset,
        "enable_auto_commit": False,
        "security_protocol": settings.security_protocol,
        "fetch_max_wait_ms": max(1, round(settings.fetch_max_wait * 1000)),
    }
    if settings.session_timeout is not None:
        session_ms = round(settings.session_timeout * 1000)
        kwargs["session_timeout_ms"] = session_ms
        # Kafka wants heartbeats well inside the session: a third is its own advice.
        kwargs["heartbeat_interval_ms"] = max(1, min(3000, session_ms // 3))
    if settings.group_instance_id:
        kwargs["group_instance_id"] = settings.group_instance_id
    if settings.security_protocol.startswith("SASL_"):
        kwargs["sasl_mechanism"] = settings.sasl_mechanism
        kwargs["sasl_plain_username"] = settings.sasl_username
        kwargs["sasl_plain_password"] = settings.sasl_password
    if settings.security_protocol.endswith("SSL"):
        kwargs["ssl_context"] = _ssl_context(settings)
    return kwargs


_CONNECTION_KEYS = (
    "bootstrap_servers", "client_id", "security_protocol", "sasl_mechanism",
    "sasl_plain_username", "sasl_plain_password", "ssl_context",
)  # fmt: skip


def client_kwargs(settings: KafkaSettings) -> dict[str, Any]:
    """How to reach the cluster (servers, security), for producers and admin clients."""
    consumer = consumer_kwargs(settings)
    return {key: consumer[key] for key in _CONNECTION_KEYS if key in consumer}


async def ensure_topic(settings: KafkaSettings, name: str, partitions: int) -> None:
    """Create an internal topic if it is missing (an existing one is left as it is)."""
    topic = NewTopic(name, partitions, settings.replication_factor)
    problems = await create_topics(client_kwargs(settings), [topic])
    if problems:
        raise ConfigError(f"cannot create the internal topic {problems[0]}")


async def topic_partitions(settings: KafkaSettings, topics: Iterable[str]) -> dict[str, int]:
    """How many partitions each topic has (a missing topic is a ConfigError)."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    counts = {}
    for topic in described:
        name = topic.get("topic", topic.get("name"))
        if topic.get("error_code") or not topic.get("partitions"):
            raise ConfigError(f"kafka.topics: {name} does not exist on the cluster")
        counts[str(name)] = len(topic["partitions"])
    return counts


def _ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=settings.ssl_cafile,
            certfile=settings.ssl_certfile,
            keyfile=settings.ssl_keyfile,
            # Never None: OpenSSL would prompt on the terminal for an encrypted key's password.
            password=settings.ssl_password or "",
        )
    except (ssl.SSLError, OSError) as error:
        key = "ssl_certfile" if settings.ssl_certfile is not None else "ssl_cafile"
        raise ConfigError(f"kafka.{key}: cannot load the TLS files: {error}") from None
    context.check_hostname = settings.ssl_check_hostname
    return context
