"""What the pipeline knows of the registry: synchronous lookups that never wait, and `fetch`.

The pipeline asks `known(ref)` and `latest(subject)` for every record without I/O. When one
answers None, the record's schema has not been fetched yet: the async shell awaits
`fetch(refs, subjects)` (which asks the registry) and then asks again.

- Schemas by id never change: they are kept (least recently used dropped beyond
  `cache_size`), compiled once, and so is a schema that cannot be used (AVRO, invalid).
- A 404 is believed for `not_found_ttl` only: a busy consumer does not ask again for every
  record (kafkajs/confluent-schema-registry#301), and a brand-new id that one registry
  replica did not know yet is found later (confluentinc/schema-registry#437).
- A subject's latest version is re-read after `latest_ttl`; while the registry is down the
  one known is kept and used, and re-reading is tried again after `backoff_max`.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Literal

from sentinel.core.events.framing import SchemaRef
from sentinel.registry.client import RegisteredSchema, RegistryClient, make_client
from sentinel.registry.compiler import CompiledSchema, compile_schema
from sentinel.registry.failures import (
    InvalidSchema,
    RegistryUnavailable,
    SchemaNotFound,
    UnsupportedSchemaType,
)
from sentinel.registry.settings import RegistrySettings

UnusableKind = Literal["not_found", "unsupported_type", "invalid_schema"]
# Requests in flight at once, so a burst of new ids does not flood the registry.
CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class Unusable:
    """A schema the registry cannot give for checking events, and why (`message`).

    `not_found`: the registry answered 404 (asked again after `not_found_ttl`);
    `unsupported_type`: AVRO, PROTOBUF, ...; `invalid_schema`: not a valid JSON Schema, or a
    `$ref` outside its references. The last two are for good: ids never change.
    """

    kind: UnusableKind
    message: str


@dataclass(frozen=True, slots=True)
class Latest:
    """A subject's latest version as last read: the id records written with it carry."""

    subject: str
    ref: SchemaRef | None
    version: int | str | None
    schema: CompiledSchema | Unusable


@dataclass(slots=True)
class _SubjectEntry:
    value: Latest | Unusable
    due: float  # when to read it again


class SchemaCache:
    """Compiled registry schemas by id and latest versions by subject; `up` for /readyz."""

    def __init__(
        self,
        settings: RegistrySettings,
        client: RegistryClient | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.client = client or make_client(settings)
        self._clock = clock
        self._schemas: OrderedDict[SchemaRef, CompiledSchema | Unusable] = OrderedDict()
        self._not_found: OrderedDict[SchemaRef, tuple[float, Unusable]] = OrderedDict()
        self._subjects: OrderedDict[str, _SubjectEntry] = OrderedDict()
        self._inflight: dict[object, asyncio.Future[None]] = {}
        self._limit = asyncio.Semaphore(CONCURRENCY)

    @property
    def up(self) -> bool:
        """Whether the last request to the registry got a registry's answer."""
        return self.client.up

    @property
    def last_error(self) -> str | None:
        """Why the last request failed (None while `up`): the URL and what was wrong."""
        return self.client.last_error

    def subject_for(self, event_type: str, topic: str = "") -> str:
        return self.settings.subject_for(event_type, topic)

    def known(self, ref: SchemaRef) -> CompiledSchema | Unusable | None:
        """The schema `ref` names, why it cannot be used, or None: not fetched (yet, or again)."""
        found = self._schemas.get(ref)
        if found is not None:
            self._schemas.move_to_end(ref)
            return found
        missing = self._not_found.get(ref)
        if missing is not None and missing[0] > self._clock():
            return missing[1]
        return None

    def latest(self, subject: str) -> Latest | Unusable | None:
        """The subject's latest version as last read, even when stale; Unusable when the
        registry has no such subject; None when never read."""
        entry = self._subjects.get(subject)
        return None if entry is None else entry.value

    def latest_due(self, subject: str) -> bool:
        """Whether `fetch` would ask for the subject again (never read, or older than the TTL)."""
        entry = self._subjects.get(subject)
        return entry is None or self._clock() >= entry.due

    async def fetch(self, refs: Iterable[SchemaRef] = (), subjects: Iterable[str] = ()) -> None:
        """Ask the registry for each ref not known and each subject due, concurrently.

        Raises RegistryUnavailable when something asked for is still unknown afterwards (the
        records that need it wait); what could be fetched is kept. A subject whose re-read
        failed keeps its last known latest version and does not raise.
        """
        wanted_refs, wanted_subjects = set(refs), set(subjects)
        jobs = [
            self._once(ref, partial(self._fetch_ref, ref))
            for ref in wanted_refs
            if self.known(ref) is None
        ]
        jobs.extend(
            self._once(subject, partial(self._fetch_subject, subject))
            for subject in wanted_subjects
            if self.latest_due(subject)
        )
        if not jobs:
            return
        outcomes = await asyncio.gather(*jobs, return_exceptions=True)
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        for failure in failures:
            if not isinstance(failure, RegistryUnavailable):
                raise failure
        if failures:
            refs_missing = any(self.known(ref) is None for ref in wanted_refs)
            subjects_missing = any(self.latest(subject) is None for subject in wanted_subjects)
            if refs_missing or subjects_missing:
                raise failures[0]

    async def probe(self) -> None:
        """One request to learn whether the registry answers; RegistryUnavailable if not."""
        await self.client.probe()

    async def close(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> SchemaCache:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def _once(self, key: object, start: Callable[[], Awaitable[None]]) -> asyncio.Future[None]:
        """The same lookup asked for twice at once goes to the registry once."""
        running = self._inflight.get(key)
        if running is not None:
            return running
        future = asyncio.ensure_future(start())
        self._inflight[key] = future
        future.add_done_callback(lambda _: self._inflight.pop(key, None))
        return future

    async def _fetch_ref(self, ref: SchemaRef) -> None:
        try:
            async with self._limit:
                raw = await self.client.schema(ref)
            compiled = await self._compile(raw)
        except SchemaNotFound as error:
            self._remember_not_found(ref, Unusable("not_found", str(error)))
            return
        self._keep(ref, compiled)

    async def _fetch_subject(self, subject: str) -> None:
        try:
            async with self._limit:
                raw = await self.client.latest(subject)
        except SchemaNotFound as error:
            missing = Unusable("not_found", f"subject {subject}: {error}")
            self._keep_subject(subject, missing, self.settings.not_found_ttl)
            return
        except RegistryUnavailable:
            entry = self._subjects.get(subject)
            if entry is not None:
                entry.due = self._clock() + min(self.settings.latest_ttl, self.settings.backoff_max)
            raise
        schema = await self._compiled_once(raw)
        latest = Latest(subject, raw.ref, raw.version, schema)
        self._keep_subject(subject, latest, self.settings.latest_ttl)

    async def _compiled_once(self, raw: RegisteredSchema) -> CompiledSchema | Unusable:
        """The latest version's schema, shared with records that name its id."""
        if raw.ref is not None:
            running = self._inflight.get(raw.ref)
            if running is not None:  # the same fetch asked for its id too: compile once
                await asyncio.wait([running])
            known = self._schemas.get(raw.ref)
            if known is not None:
                return known
        try:
            schema = await self._compile(raw)
        except SchemaNotFound as error:  # one of its references
            return Unusable("not_found", str(error))
        if raw.ref is not None:
            self._keep(raw.ref, schema)
        return schema

    async def _compile(self, raw: RegisteredSchema) -> CompiledSchema | Unusable:
        """Compile with references fetched; a schema that cannot be used says why."""
        try:
            if raw.schema_type.upper() != "JSON":  # refused before its references are fetched
                return compile_schema(raw, {})
            return compile_schema(raw, await self.client.references(raw))
        except UnsupportedSchemaType as error:
            return Unusable("unsupported_type", str(error))
        except InvalidSchema as error:
            return Unusable("invalid_schema", str(error))

    def _keep(self, ref: SchemaRef, value: CompiledSchema | Unusable) -> None:
        self._not_found.pop(ref, None)
        self._schemas[ref] = value
        self._schemas.move_to_end(ref)
        if len(self._schemas) > self.settings.cache_size:
            self._schemas.popitem(last=False)

    def _remember_not_found(self, ref: SchemaRef, missing: Unusable) -> None:
        self._not_found[ref] = (self._clock() + self.settings.not_found_ttl, missing)
        self._not_found.move_to_end(ref)
        if len(self._not_found) > self.settings.cache_size:
            self._not_found.popitem(last=False)

    def _keep_subject(self, subject: str, value: Latest | Unusable, ttl: float) -> None:
        self._subjects[subject] = _SubjectEntry(value, self._clock() + ttl)
        self._subjects.move_to_end(subject)
        if len(self._subjects) > self.settings.cache_size:
            self._subjects.popitem(last=False)
