"""Chooses the state store the config asks for."""

from __future__ import annotations

from sentinel.config import StateSettings
from sentinel.store.base import StateStore


def open_store(settings: StateSettings) -> StateStore:
    """SQLite at `state.path`, else memory (state lost on restart: fine for trying things)."""
    if settings.path is None:
        from sentinel.store.memory import MemoryStore  # noqa: PLC0415

        return MemoryStore()
    from sentinel.store.sqlite import SqliteStore  # noqa: PLC0415

    return SqliteStore(settings.path)
