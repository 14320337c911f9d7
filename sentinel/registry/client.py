"""A read-only client for the two registry APIs the sentinel speaks, giving one schema model.

`confluent`: Confluent Schema Registry, Karapace and Apicurio's `/apis/ccompat/v7`.
`apicurio-v3`: Apicurio's own `/apis/registry/v3`, where a subject is `artifactId` (group
`default`) or `groupId/artifactId`. References are followed through the same registry only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from sentinel.core.events.framing import IdKind, SchemaRef
from sentinel.registry.failures import InvalidSchema, SchemaNotFound
from sentinel.registry.settings import RegistrySettings
from sentinel.registry.transport import Answer, Transport

CONFLUENT_ACCEPT = (
    "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json"
)
APICURIO_ACCEPT = "application/json, */*"
ARTIFACT_TYPE_HEADER = "X-Registry-ArtifactType"
MAX_REFERENCE_DEPTH = 16
_AVRO_NAMED = frozenset({"record", "enum", "fixed"})


@dataclass(frozen=True, slots=True)
class Reference:
    """A `$ref` name that the registry maps to another subject's version."""

    name: str
    subject: str
    version: str


@dataclass(frozen=True, slots=True)
class RegisteredSchema:
    """A schema as the registry gives it: its text, its type and what it refers to."""

    text: str
    schema_type: str  # JSON, AVRO, PROTOBUF, ...
    references: tuple[Reference, ...] = ()
    ref: SchemaRef | None = None  # how records name it, when known
    subject: str | None = None
    version: int | str | None = None

    @property
    def label(self) -> str:
        """How messages name it: by id when records name it so, else subject and version."""
        if self.ref is not None:
            return str(self.ref)
        return f"subject {self.subject} version {self.version}"


class RegistryClient(ABC):
    """The API-independent face: `schema`, `latest`, `version`, `references` and `probe`."""

    def __init__(self, settings: RegistrySettings, transport: Transport | None = None) -> None:
        self.settings = settings
        self.transport = transport or Transport(settings)
        # Pinned versions never change: referenced schemas are asked for once.
        self._pinned: OrderedDict[tuple[str, str], RegisteredSchema] = OrderedDict()

    @property
    def up(self) -> bool:
        return self.transport.up

    @property
    def last_error(self) -> str | None:
        return self.transport.last_error

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @abstractmethod
    async def schema(self, ref: SchemaRef) -> RegisteredSchema:
        """The schema a record names; raises SchemaNotFound or RegistryUnavailable."""

    @abstractmethod
    async def latest(self, subject: str) -> RegisteredSchema:
        """The subject's latest version, with the id records written with it carry."""

    @abstractmethod
    async def version(self, subject: str, version: str) -> RegisteredSchema:
        """One version of a subject (what a reference points at)."""

    @abstractmethod
    async def probe(self) -> None:
        """One cheap request, to learn whether the registry answers (at start, for /readyz)."""

    async def references(self, schema: RegisteredSchema) -> dict[str, Any]:
        """Every schema `schema` refers to, directly or not, as {reference name: document}."""
        documents: dict[str, Any] = {}
        await self._follow(schema.label, schema, documents, ())
        return documents

    async def _follow(
        self,
        root: str,
        schema: RegisteredSchema,
        documents: dict[str, Any],
        path: tuple[tuple[str, str], ...],
    ) -> None:
        """Depth first; `root` names the schema a record named, for every message."""
        for reference in schema.references:
            key = (reference.subject, reference.version)
            if key in path or len(path) >= MAX_REFERENCE_DEPTH:
                chain = " -> ".join(f"{s} v{v}" for s, v in (*path, key))
                raise InvalidSchema(f"{root}: references go round or too deep: {chain}")
            where = (
                f"reference {reference.name!r} (subject {reference.subject} "
                f"version {reference.version})"
            )
            try:
                target = await self._pinned_version(reference)
            except SchemaNotFound as error:
                raise SchemaNotFound(f"{root}: {where}: {error}") from None
            try:
                documents.setdefault(reference.name, orjson.loads(target.text))
            except orjson.JSONDecodeError:
                raise InvalidSchema(f"{root}: {where} is not JSON") from None
            await self._follow(root, target, documents, (*path, key))

    async def _pinned_version(self, reference: Reference) -> RegisteredSchema:
        key = (reference.subject, reference.version)
        cached = self._pinned.get(key)
        if cached is not None:
            return cached
        target = await self.version(reference.subject, reference.version)
        if _pinned(reference.version):
            self._pinned[key] = target
            if len(self._pinned) > self.settings.cache_size:
                self._pinned.popitem(last=False)
        return target


class ConfluentClient(RegistryClient):
    """The Confluent-compatible API."""

    async def schema(self, ref: SchemaRef) -> RegisteredSchema:
        if ref.kind is IdKind.CONFLUENT_GUID:
            answer = await self._get(f"/schemas/guids/{quote(str(ref.value), safe='')}")
            return _confluent_schema(answer, self.transport, ref)
        if ref.kind is IdKind.APICURIO_GLOBAL_ID:
            raise SchemaNotFound(
                f"{ref}: a globalId cannot be looked up through the Confluent-compatible API; "
                "set registry.api: apicurio-v3"
            )
        # A contentId is what Apicurio's ccompat API calls a schema id.
        answer = await self._get(f"/schemas/ids/{ref.value}")
        schema = _confluent_schema(answer, self.transport, ref)
        where = await self.transport.try_get(f"/schemas/ids/{ref.value}/versions", CONFLUENT_ACCEPT)
        subject, version = _first_subject_version(where)
        return RegisteredSchema(
            schema.text, schema.schema_type, schema.references, ref, subject, version
        )

    async def latest(self, subject: str) -> RegisteredSchema:
        return await self.version(subject, "latest")

    async def version(self, subject: str, version: str) -> RegisteredSchema:
        answer = await self._get(f"/subjects/{_segment(subject)}/versions/{_segment(version)}")
        schema = _confluent_schema(answer, self.transport, None)
        document = answer.json(self.transport)  # an object: _confluent_schema checked it
        number = document.get("id")
        if not isinstance(number, int) or isinstance(number, bool):
            raise self.transport.unavailable(f"{answer.url}: answered without a schema id")
        found_version = document.get("version")
        return RegisteredSchema(
            schema.text,
            schema.schema_type,
            schema.references,
            SchemaRef(IdKind.CONFLUENT_ID, number),
            str(document.get("subject") or subject),
            found_version if isinstance(found_version, int) else None,
        )

    async def probe(self) -> None:
        await self._get("/schemas/types")

    async def _get(self, path: str) -> Answer:
        return await self.transport.get(path, CONFLUENT_ACCEPT)


class ApicurioClient(RegistryClient):
    """Apicurio Registry's own v3 API."""

    async def schema(self, ref: SchemaRef) -> RegisteredSchema:
        if ref.kind is IdKind.CONFLUENT_GUID:
            raise SchemaNotFound(
                f"{ref}: a schema GUID cannot be looked up through Apicurio's v3 API; "
                "set registry.api: confluent"
            )
        # Apicurio 3 writes a contentId in the 4-byte Confluent layout.
        if ref.kind is IdKind.APICURIO_GLOBAL_ID:
            ids, search = "globalIds", "globalId"
            content = await self._get(f"/ids/globalIds/{ref.value}", {"returnArtifactType": "true"})
        else:
            ids, search = "contentIds", "contentId"
            content = await self._get(f"/ids/contentIds/{ref.value}")
        found = await self.transport.try_get(
            "/search/versions", APICURIO_ACCEPT, {search: str(ref.value), "limit": "1"}
        )
        meta = _first_version(found)
        schema_type = content.headers.get(ARTIFACT_TYPE_HEADER) or meta.get("artifactType")
        references = await self._references(f"/ids/{ids}/{ref.value}/references")
        return RegisteredSchema(
            _text(content, self.transport),
            str(schema_type) if schema_type else _sniff_type(content.body),
            references,
            ref,
            _apicurio_subject(meta),
            _version_number(meta.get("version")),
        )

    async def latest(self, subject: str) -> RegisteredSchema:
        return await self.version(subject, "branch=latest")

    async def version(self, subject: str, version: str) -> RegisteredSchema:
        group, artifact = _group_artifact(subject)
        path = f"/groups/{_segment(group)}/artifacts/{_segment(artifact)}/versions/{version}"
        meta = (await self._get(path)).json(self.transport)
        global_id = meta.get("globalId") if isinstance(meta, dict) else None
        if not isinstance(global_id, int) or isinstance(global_id, bool):
            raise self.transport.unavailable(
                f"{self.settings.url}{path}: answered without a globalId"
            )
        schema = await self.schema(SchemaRef(IdKind.APICURIO_GLOBAL_ID, global_id))
        schema_type = meta.get("artifactType")
        return RegisteredSchema(
            schema.text,
            str(schema_type) if schema_type else schema.schema_type,
            schema.references,
            schema.ref,
            _apicurio_subject(meta) or subject,
            _version_number(meta.get("version")),
        )

    async def probe(self) -> None:
        await self._get("/system/info")

    async def _references(self, path: str) -> tuple[Reference, ...]:
        answer = await self._get(path)
        listed = answer.json(self.transport)
        if not isinstance(listed, list):
            raise self.transport.unavailable(f"{answer.url}: answered {_kind(listed)}, not a list")
        references = []
        for item in listed:
            if not isinstance(item, dict) or not isinstance(item.get("artifactId"), str):
                raise self.transport.unavailable(f"{answer.url}: a reference without artifactId")
            group = item.get("groupId") or "default"
            references.append(
                Reference(
                    str(item.get("name") or item["artifactId"]),
                    f"{group}/{item['artifactId']}",
                    str(item.get("version") or "branch=latest"),
                )
            )
        return tuple(references)

    async def _get(self, path: str, params: Mapping[str, str] | None = None) -> Answer:
        return await self.transport.get(path, APICURIO_ACCEPT, params)


def make_client(
    settings: RegistrySettings,
    *,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    jitter: Callable[[], float] | None = None,
) -> RegistryClient:
    """The client for `settings.api`; `sleep` and `jitter` are for tests of the back-off."""
    options: dict[str, Any] = {}
    if sleep is not None:
        options["sleep"] = sleep
    if jitter is not None:
        options["jitter"] = jitter
    transport = Transport(settings, **options)
    if settings.api == "apicurio-v3":
        return ApicurioClient(settings, transport)
    return ConfluentClient(settings, transport)


def _confluent_schema(
    answer: Answer, transport: Transport, ref: SchemaRef | None
) -> RegisteredSchema:
    document = answer.json(transport)
    if not isinstance(document, dict) or not isinstance(document.get("schema"), str):
        raise transport.unavailable(
            f"{answer.url}: answered {_kind(document)} without a 'schema' string"
        )
    references = []
    for item in document.get("references") or ():
        if not (
            isinstance(item, dict)
            and isinstance(item.get("name"), str)
            and isinstance(item.get("subject"), str)
            and isinstance(item.get("version"), int | str)
        ):
            raise transport.unavailable(f"{answer.url}: a reference without name/subject/version")
        references.append(Reference(item["name"], item["subject"], str(item["version"])))
    # A missing schemaType means AVRO (Schema.from_dict in the Confluent client).
    schema_type = document.get("schemaType") or "AVRO"
    return RegisteredSchema(document["schema"], str(schema_type), tuple(references), ref)


def _first_subject_version(answer: Answer | None) -> tuple[str | None, int | None]:
    if answer is None:
        return None, None
    try:
        listed = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return None, None
    if isinstance(listed, list) and listed and isinstance(listed[0], dict):
        subject, version = listed[0].get("subject"), listed[0].get("version")
        return (
            subject if isinstance(subject, str) else None,
            version if isinstance(version, int) else None,
        )
    return None, None


def _first_version(answer: Answer | None) -> dict[str, Any]:
    if answer is None:
        return {}
    try:
        found = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return {}
    versions = found.get("versions") if isinstance(found, dict) else None
    if isinstance(versions, list) and versions and isinstance(versions[0], dict):
        return versions[0]
    return {}


def _apicurio_subject(meta: Mapping[str, Any]) -> str | None:
    artifact = meta.get("artifactId")
    if not isinstance(artifact, str):
        return None
    group = meta.get("groupId")
    return artifact if group in (None, "", "default") else f"{group}/{artifact}"


def _group_artifact(subject: str) -> tuple[str, str]:
    group, slash, artifact = subject.partition("/")
    return (group, artifact) if slash else ("default", subject)


def _version_number(version: object) -> int | str | None:
    if isinstance(version, str):
        return int(version) if version.isdigit() else version
    return version if isinstance(version, int) else None


def _text(answer: Answer, transport: Transport) -> str:
    try:
        return answer.body.decode("utf-8")
    except UnicodeDecodeError:
        raise transport.unavailable(f"{answer.url}: the schema is not UTF-8 text") from None


def _sniff_type(body: bytes) -> str:
    """The type of content that came without one (a contentId): JSON Schema, AVRO or other.

    Avro schemas are JSON too; they are a named type (record, enum, fixed), a union (array)
    or a primitive's name (a string). Anything that is not JSON is likely PROTOBUF.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "PROTOBUF"
    if isinstance(document, list | str):
        return "AVRO"
    if isinstance(document, dict) and document.get("type") in _AVRO_NAMED and "name" in document:
        return "AVRO"
    return "JSON"


def _pinned(version: str) -> bool:
    """Whether a reference names one version for ever (not `latest`, -1 or a branch)."""
    return version not in ("latest", "-1") and not version.startswith("branch=")


def _segment(text: str) -> str:
    return quote(text, safe="=")


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"
