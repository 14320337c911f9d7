"""Chooses the state store the config asks for."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sentinel.config import Config
from sentinel.store.base import StateStore


def open_store(config: Config) -> StateStore:
    """SQLite at `state.path`, else memory (state lost on restart: fine for trying things);
    in changelog mode, SQLite as the local snapshot of a changelog kept in Kafka."""
    settings = config.state
    if settings.mode == "changelog":
        from sentinel.kafka.source import client_kwargs  # noqa: PLC0415
        from sentinel.store.changelog import ChangelogStore  # noqa: PLC0415
        from sentinel.store.sqlite import SqliteStore  # noqa: PLC0415

        # Without a volume, a replica restores its partitions from the changelog in full.
        path = settings.path or Path(tempfile.mkdtemp(prefix="sentinel-state-")) / "state.db"
        return ChangelogStore(
            SqliteStore(path),
            config.kafka.group_id,
            client_kwargs(config.kafka),
            config.kafka.replication_factor,
        )
    if settings.path is None:
        from sentinel.store.memory import MemoryStore  # noqa: PLC0415

        return MemoryStore()
    from sentinel.store.sqlite import SqliteStore  # noqa: PLC0415

    return SqliteStore(settings.path)
