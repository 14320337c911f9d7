"""What the local stores share: the Kafka-facing half of the store lifecycle, as no-ops.

Memory and SQLite stores keep everything in this process; only the changelog store has work
to do when partitions move or before offsets are committed (sentinel.storage.StateStore).
"""

from __future__ import annotations

from collections.abc import Collection

from sentinel.records import Partition


class LocalStore:
    """A store with nothing to connect, hand over, send or read from elsewhere: every lifecycle
    call is a no-op."""

    async def start(self) -> None:
        pass

    async def assign(self, partitions: Collection[Partition]) -> None:
        pass

    async def revoke(self, partitions: Collection[Partition]) -> None:
        pass

    async def flush(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def refresh_history(self) -> None:
        pass
