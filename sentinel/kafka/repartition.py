"""The repartition stage: for input topics not keyed by rollout, every event is written again to
an internal topic keyed by (expectation, rollout), so each rollout lives in one partition and
so is owned by exactly one replica (contract: "rollouts live where their events are").

One copy per expectation the event can advance, each with headers saying which expectation it
is for and whether it is the primary copy (the one that reports on the event itself:
schema, registration, correlation). An event no expectation can take (or a record that is
not an event) is written once, keyed as it came. The input offsets are committed only after
the broker acknowledged every copy.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from sentinel.core.errors import BusUnreachable
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.events.envelope import Envelope, Malformed, Skipped, correlation_key
from sentinel.core.events.records import Partition, Record
from sentinel.core.rules.expectations import Expectation, index_by_type
from sentinel.kafka.options import client_kwargs, ensure_topic
from sentinel.kafka.settings import KafkaSettings
from sentinel.kafka.source import KafkaSource

log = logging.getLogger("sentinel.repartition")

SCOPE_HEADER = "sentinel-scope"
PRIMARY_HEADER = "sentinel-primary"
ORIGIN_HEADER = "sentinel-origin"
# On the copy of an input record the Kafka client could not read: why (Record.fault).
FAULT_HEADER = "sentinel-fault"


@dataclass(frozen=True, slots=True)
class Copy:
    """One record to write to the repartition topic: its key, the expectation it is for ("" for
    a record no expectation takes), and whether it reports on the event itself."""

    key: bytes | None
    expectation: str
    primary: bool


def copies_of(
    item: Envelope | object, key: bytes | None, by_type: Mapping[str, Sequence[Expectation]]
) -> list[Copy]:
    """Where one record goes: a copy per expectation with a rollout key, the first primary.

    Purely computational.
    """
    copies: list[Copy] = []
    if isinstance(item, Envelope):
        for exp in by_type.get(item.type, ()):
            rollout = correlation_key(item.lookup(exp.correlate_path))
            if rollout is not None:
                routing = f"{exp.name}\x1f{rollout}".encode()
                copies.append(Copy(routing, exp.name, primary=not copies))
    return copies or [Copy(key, "", primary=True)]


def route(record: Record) -> tuple[str | None, bool]:
    """The pipeline's route for a copy: the expectation it is for, and whether it is primary."""
    expectation, primary = None, True
    for name, value in record.headers:
        if name == SCOPE_HEADER:
            expectation = (value or b"").decode("utf-8", "replace")
        elif name == PRIMARY_HEADER:
            primary = value == b"1"
    return expectation, primary


class CopyDecoder:
    """Decodes a copy as its original record: findings about it say where it was first read."""

    def __init__(self, registry: bool = False) -> None:
        self._decoder = BusDecoder(registry)

    def skim(self, record: Record, skip: Container[str]) -> Skipped | None:
        return None  # the stage copies only events that some expectation watches

    def decode(self, record: Record) -> Envelope | Malformed:
        item = self._decoder.decode(record)
        for name, value in record.headers:
            if name == FAULT_HEADER:
                item = Malformed((value or b"").decode("utf-8", "replace"), record.origin)
            elif name == ORIGIN_HEADER:
                origin = (value or b"").decode("utf-8", "replace")
                if isinstance(item, Malformed):
                    return Malformed(item.reason, origin)
                item.origin = origin
        return item


class Repartitioner:
    """Reads the input topics in its own consumer group and writes the scoped copies."""

    def __init__(
        self,
        settings: KafkaSettings,
        target: str,
        expectations: Callable[[], Sequence[Expectation]],
        tick: float,
        max_batch: int,
        lag_threshold: int,
    ) -> None:
        """`tick`, `max_batch`, `lag_threshold`: the live loop's (`watch:`), for this stage's own
        fetches and for when it counts as behind."""
        self.target = target
        self._expectations = expectations
        self._tick = tick  # longest wait in a fetch
        self._max_batch, self._lag_threshold = max_batch, lag_threshold
        self._settings = dataclasses.replace(settings, group_id=f"{settings.group_id}-repartition")
        self.source = KafkaSource(self._settings)
        self._producer: AIOKafkaProducer | None = None
        self._decoder = BusDecoder(registry=True)
        self._by_type: Mapping[str, Sequence[Expectation]] = {}
        self._indexed: Sequence[Expectation] | None = None
        self.lagging = True  # until the input is known to be read to its end

    async def start(self) -> None:
        """The internal topic (created if missing), the producer and the input consumer."""
        try:
            await ensure_topic(self._settings, self.target, self._settings.repartition_partitions)
            self._producer = AIOKafkaProducer(
                **client_kwargs(self._settings),
                acks="all",
                enable_idempotence=False,
                linger_ms=5,
            )
            await self._producer.start()
        except KafkaConnectionError as error:
            servers = ",".join(self._settings.bootstrap_servers)
            raise BusUnreachable(f"cannot reach Kafka at {servers}: {error}") from None
        await self.source.start(_Quiet())

    async def stop(self) -> None:
        await self.source.stop()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def run(self, stop: asyncio.Event) -> None:
        """Forward batches until `stop`; the input offsets follow the acknowledged copies."""
        while not stop.is_set():
            records = await self.source.fetch(self._max_batch, self._tick)
            if records:
                offsets = await self._forward(records)
                await self.source.commit(offsets)
            lags = await self.source.lags()
            full = len(records) >= self._max_batch
            self.lagging = full or any(
                lag is None or lag > self._lag_threshold for lag in lags.values()
            )

    async def _forward(self, records: Sequence[Record]) -> dict[Partition, int]:
        assert self._producer is not None
        expectations = self._expectations()
        if expectations is not self._indexed:  # reloaded: index the new set once
            self._by_type, self._indexed = index_by_type(expectations), expectations
        sent = []
        offsets: dict[Partition, int] = {}
        for record in records:
            origin = record.origin
            # Framed or not, the copies carry the value as it came; here only its type and
            # rollout key matter.
            item = self._decoder.decode(record)
            # The broker timestamp travels on: clock skew is measured against the original.
            stamp = None if record.timestamp is None else round(record.timestamp * 1000)
            for copy in copies_of(item, record.key, self._by_type):
                fault = () if record.fault is None else ((FAULT_HEADER, record.fault.encode()),)
                headers = [
                    *record.headers,
                    *fault,
                    (SCOPE_HEADER, copy.expectation.encode()),
                    (PRIMARY_HEADER, b"1" if copy.primary else b"0"),
                    (ORIGIN_HEADER, origin.encode()),
                ]
                sent.append(
                    await self._producer.send(
                        self.target, record.value, key=copy.key, headers=headers, timestamp_ms=stamp
                    )
                )
            offsets[record.partition] = record.offset + 1
        await asyncio.gather(*sent)
        return offsets


class _Quiet:
    """The repartition stage keeps no per-partition state: rebalances need no work."""

    async def on_revoked(self, partitions: frozenset[Partition]) -> None:
        log.debug("repartition input revoked", extra={"partitions": sorted(partitions)})

    async def on_assigned(self, partitions: frozenset[Partition]) -> None:
        log.debug("repartition input assigned", extra={"partitions": sorted(partitions)})
