"""Records written to the bus one at a time, each acknowledged: what the demo's services send
(the sentinel itself only reads the bus, apart from its own internal topics)."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from sentinel.core.events.records import Header


class Sender:
    """A producer on `bootstrap_servers`, started and stopped by its user."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers)

    async def start(self) -> None:
        await self._producer.start()

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Sequence[Header] = ()
    ) -> None:
        """Write one record and wait until the broker acknowledged it."""
        await self._producer.send_and_wait(topic, value, key=key, headers=list(headers))

    async def stop(self) -> None:
        await self._producer.stop()
