"""The registry's answer to the pipeline's question "what was this event written with?":
`sentinel.core.engine.writer_schemas.WriterLookup` over the schema cache, never waiting."""

from __future__ import annotations

from collections.abc import Collection

from sentinel.core.engine.writer_schemas import Need, Writer
from sentinel.core.events.envelope import Envelope
from sentinel.registry.cache import SchemaCache, Unusable


class RegistryWriters:
    """Writer schemas from the cache; the subjects due for a re-read are noted in `due`."""

    def __init__(self, cache: SchemaCache, known_types: Collection[str]) -> None:
        self.cache = cache
        # Only types the rules name have a subject looked up: a type from the bus must not
        # make the sentinel ask the registry without bound.
        self.known_types = frozenset(known_types)
        self.due: set[str] = set()

    def writer(self, event: Envelope, topic: str) -> Writer | Need | None:
        ref = event.schema_ref
        if ref is not None:
            known = self.cache.known(ref)
            if known is None:
                return Need(ref=ref)
            if isinstance(known, Unusable):
                return Writer(ref.value, None, None, None, known.message)
            return Writer(ref.value, known.subject, known.version, known.check)
        if event.type not in self.known_types:
            return None
        subject = self.cache.subject_for(event.type, topic)
        latest = self.cache.latest(subject)
        if latest is None:
            return Need(subject=subject)
        if self.cache.latest_due(subject):
            self.due.add(subject)  # read again in the background; the one known serves now
        if isinstance(latest, Unusable) or isinstance(latest.schema, Unusable):
            return None  # no usable subject: the event has no writer schema to be held to
        schema_id = None if latest.ref is None else latest.ref.value
        return Writer(schema_id, subject, latest.version, latest.schema.check)
