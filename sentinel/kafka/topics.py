"""Creating topics with the admin client: one round trip, problems returned as sentences."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

TOPIC_ALREADY_EXISTS = 36  # Kafka's error code


async def create_topics(
    client: Mapping[str, Any], topics: Sequence[NewTopic], exist_ok: bool = True
) -> list[str]:
    """Create `topics`; one line per topic that could not be, for the caller's own error.

    `client`: bootstrap_servers and the security settings. With `exist_ok`, a topic that is
    already there is left as it is (its partitions and configs are not checked).
    """
    admin = AIOKafkaAdminClient(**client)
    await admin.start()
    try:
        response = await admin.create_topics(list(topics))
    finally:
        await admin.close()
    return [
        f"{topic}: {message} (error {code})"
        for topic, code, message in response.topic_errors
        if code and not (exist_ok and code == TOPIC_ALREADY_EXISTS)
    ]
