"""A schema registry for tests, served over real HTTP on 127.0.0.1 (no registry installs here).

It implements what the sentinel reads and what the real `confluent-kafka` client calls to
register schemas, with the registries' own error bodies:

- Confluent API at `registry.url`: `POST /subjects/{s}/versions` (register), `POST
  /subjects/{s}` (look up), `GET /subjects`, `/subjects/{s}/versions`,
  `/subjects/{s}/versions/{n|latest|-1}`, `/schemas/ids/{id}`, `/schemas/ids/{id}/versions`,
  `/schemas/guids/{guid}`, `/schemas/types`. Errors `{"error_code": 40401, "message": ...}`;
  an unknown path is Jersey's `{"error_code": 404, "message": "HTTP 404 Not Found"}`.
- Apicurio v3 at `registry.apicurio_url` (`.../apis/registry/v3`), over the same store (group
  `default`, artifactId = subject, contentId = the Confluent id, as Apicurio's ccompat API
  maps them): `/ids/globalIds/{id}` (with `returnArtifactType`), `/ids/contentIds/{id}`, their
  `/references`, `/groups/{g}/artifacts/{a}/versions/{n|branch=latest}`, `/search/versions`,
  `/system/info`. Errors are problem details `{"title", "status", "detail", "name"}`.

No compatibility checks: a new version of a subject is accepted whatever it changes.

It runs on its own event loop in a thread, so a synchronous client (confluent-kafka's) and
async tests can both talk to it. Use it as a context manager or through the `fake_registry`
fixture (tests/registry/conftest.py):

    with FakeRegistry() as registry:
        schema_id = registry.register("Deployed", {"type": "object"})
        registry.delay = 2.0          # answer slowly
        registry.stop(); registry.restart()   # same port

Knobs (plain attributes, read for every request): `delay` (seconds before answering),
`garbage` (bytes answered with 200 instead of the real answer), `fail_status` (e.g. 503; with
`fail_remaining` = how many requests fail, None for all) and `retry_after` (its header),
`flaky_new_ids` (the first GET of each id answers 404, like a replica that has not caught up,
confluentinc/schema-registry#437). `requests` records every request; `count(path)` counts
the GETs of one path.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ssl import SSLContext
from typing import Any

from aiohttp import web

APICURIO_PREFIX = "/apis/registry/v3"
GROUP = "default"


@dataclass(frozen=True)
class Seen:
    """One request as the fake received it."""

    method: str
    path: str
    query: Mapping[str, str]
    authorization: str | None


@dataclass
class _Content:
    content_id: int
    text: str
    schema_type: str
    references: tuple[tuple[str, str, int], ...]  # (name, subject, version)
    guid: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class _Version:
    global_id: int
    subject: str
    version: int
    content: _Content


class _Problem(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class FakeRegistry:
    """One registry store served under both APIs; see the module docstring for the knobs."""

    def __init__(
        self,
        *,
        ssl_context: SSLContext | None = None,
        basic_auth: tuple[str, str] | None = None,
        token: str | None = None,
    ) -> None:
        self.delay = 0.0
        self.garbage: bytes | None = None
        self.fail_status: int | None = None
        self.fail_remaining: int | None = None
        self.retry_after: str | None = None
        self.flaky_new_ids = False
        self.requests: list[Seen] = []
        self._ssl = ssl_context
        self._basic = basic_auth
        self._token = token
        self._lock = threading.Lock()
        self._contents: list[_Content] = []
        self._versions: list[_Version] = []
        self._served_ids: set[tuple[str, int]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The Confluent-compatible API's base URL."""
        scheme = "https" if self._ssl is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def apicurio_url(self) -> str:
        """Apicurio's v3 API's base URL."""
        return self.url + APICURIO_PREFIX

    def start(self) -> FakeRegistry:
        if not self._thread.is_alive():
            self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        return self

    def stop(self) -> None:
        """Stop answering (connections are refused) but keep the store and the port."""
        runner, self._runner = self._runner, None
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), self._loop).result(10)

    def restart(self) -> None:
        """Answer again, on the same port."""
        self.start()

    @property
    def running(self) -> bool:
        """Whether it answers (not stopped)."""
        return self._runner is not None

    def close(self) -> None:
        self.stop()
        asyncio.run_coroutine_threadsafe(self._cancel_answers(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _cancel_answers(self) -> None:
        """Answers still waiting out a `delay` end here, not as tasks destroyed pending."""
        current = asyncio.current_task()
        answers = [task for task in asyncio.all_tasks() if task is not current]
        for task in answers:
            task.cancel()
        await asyncio.gather(*answers, return_exceptions=True)

    def __enter__(self) -> FakeRegistry:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(
            runner, "127.0.0.1", self.port, ssl_context=self._ssl, reuse_address=True
        )
        await site.start()
        self.port = runner.addresses[0][1]
        self._runner = runner

    # -- the store, for tests that do not go through a client ------------------------------

    def register(
        self,
        subject: str,
        schema: str | Mapping[str, Any],
        schema_type: str = "JSON",
        references: Iterable[tuple[str, str, int]] = (),
    ) -> int:
        """Register a version of `subject`; the schema's id (= Apicurio contentId)."""
        text = schema if isinstance(schema, str) else json.dumps(schema)
        return self._register(subject, text, schema_type, tuple(references)).content.content_id

    def global_id(self, subject: str, version: int | None = None) -> int:
        """Apicurio's globalId of a subject's version (the latest by default)."""
        with self._lock:
            versions = [v for v in self._versions if v.subject == subject]
            chosen = versions[-1] if version is None else versions[version - 1]
            return chosen.global_id

    def guid(self, schema_id: int) -> str:
        with self._lock:
            return self._contents[schema_id - 1].guid

    def count(self, path: str, method: str = "GET") -> int:
        """How many requests asked for exactly `path` (without the query)."""
        return sum(1 for seen in self.requests if seen.path == path and seen.method == method)

    def _register(
        self, subject: str, text: str, schema_type: str, refs: tuple[tuple[str, str, int], ...]
    ) -> _Version:
        with self._lock:
            for ref_name, ref_subject, ref_version in refs:
                if self._find_version(ref_subject, str(ref_version)) is None:
                    raise _Problem(
                        422,
                        {
                            "error_code": 42201,
                            "message": f"Invalid schema: reference {ref_name} to subject "
                            f"{ref_subject} version {ref_version} does not exist",
                        },
                    )
            content = next(
                (
                    c
                    for c in self._contents
                    if (c.text, c.schema_type, c.references) == (text, schema_type, refs)
                ),
                None,
            )
            if content is None:
                content = _Content(len(self._contents) + 1, text, schema_type, refs)
                self._contents.append(content)
            versions = [v for v in self._versions if v.subject == subject]
            if versions and versions[-1].content is content:
                return versions[-1]
            version = _Version(len(self._versions) + 1, subject, len(versions) + 1, content)
            self._versions.append(version)
            return version

    def _find_version(self, subject: str, version: str) -> _Version | None:
        versions = [v for v in self._versions if v.subject == subject]
        if not versions:
            return None
        if version in ("latest", "-1", "branch=latest"):
            return versions[-1]
        if version.isdigit() and 1 <= int(version) <= len(versions):
            return versions[int(version) - 1]
        return None

    def _content(self, content_id: int) -> _Content | None:
        with self._lock:
            if 1 <= content_id <= len(self._contents):
                return self._contents[content_id - 1]
            return None

    # -- HTTP -------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                request.headers.get("Authorization"),
            )
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        if not self._authorised(request):
            return _json(401, {"error_code": 401, "message": "Unauthorized"})
        if self.fail_status is not None and self.fail_remaining != 0:
            if self.fail_remaining is not None:
                self.fail_remaining -= 1
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return _json(
                self.fail_status,
                {"error_code": self.fail_status * 100, "message": "unavailable (fake)"},
                headers,
            )
        if self.garbage is not None:
            return web.Response(body=self.garbage, content_type="application/json")
        try:
            if request.path.startswith(APICURIO_PREFIX + "/"):
                return await self._apicurio(request, request.path[len(APICURIO_PREFIX) :])
            return await self._confluent(request)
        except _Problem as problem:
            return _json(problem.status, problem.body)

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if self._token is not None and header != f"Bearer {self._token}":
            return False
        if self._basic is not None:
            scheme, _, encoded = header.partition(" ")
            try:
                pair = base64.b64decode(encoded, validate=True).decode()
            except ValueError:
                return False
            return scheme == "Basic" and tuple(pair.split(":", 1)) == self._basic
        return True

    def _hide_once(self, kind: str, number: int) -> bool:
        if not self.flaky_new_ids or (kind, number) in self._served_ids:
            return False
        self._served_ids.add((kind, number))
        return True

    # Confluent ----------------------------------------------------------------------------

    async def _confluent(self, request: web.Request) -> web.Response:
        parts = [part for part in request.path.split("/") if part]
        method = request.method
        match parts:
            case ["schemas", "types"] if method == "GET":
                return _json(200, ["JSON", "AVRO", "PROTOBUF"])
            case ["subjects"] if method == "GET":
                with self._lock:
                    return _json(200, sorted({v.subject for v in self._versions}))
            case ["subjects", subject, "versions"] if method == "GET":
                with self._lock:
                    versions = [v.version for v in self._versions if v.subject == subject]
                if not versions:
                    raise _subject_not_found(subject)
                return _json(200, versions)
            case ["subjects", subject, "versions"] if method == "POST":
                body = await request.json()
                registered = self._register(
                    subject,
                    body["schema"],
                    body.get("schemaType", "AVRO"),
                    tuple(
                        (r["name"], r["subject"], int(r["version"]))
                        for r in body.get("references") or ()
                    ),
                )
                return _json(
                    200, {"id": registered.content.content_id, "guid": registered.content.guid}
                )
            case ["subjects", subject] if method == "POST":
                return _json(200, await self._lookup(subject, await request.json()))
            case ["subjects", subject, "versions", version] if method == "GET":
                with self._lock:
                    found = self._find_version(subject, version)
                    exists = any(v.subject == subject for v in self._versions)
                if found is None:
                    if not exists:
                        raise _subject_not_found(subject)
                    raise _Problem(
                        404, {"error_code": 40402, "message": f"Version {version} not found."}
                    )
                return _json(200, _version_body(found))
            case ["schemas", "ids", number] if method == "GET" and number.isdigit():
                content = self._content_or_404(int(number))
                return _json(200, _schema_body(content))
            case ["schemas", "ids", number, "versions"] if method == "GET" and number.isdigit():
                content = self._content_or_404(int(number))
                with self._lock:
                    places = [
                        {"subject": v.subject, "version": v.version}
                        for v in self._versions
                        if v.content is content
                    ]
                return _json(200, places)
            case ["schemas", "guids", guid] if method == "GET":
                with self._lock:
                    found_content = next((c for c in self._contents if c.guid == guid), None)
                if found_content is None:
                    raise _Problem(404, {"error_code": 40403, "message": "Schema not found"})
                return _json(200, {**_schema_body(found_content), "guid": guid})
        raise _Problem(404, {"error_code": 404, "message": "HTTP 404 Not Found"})

    async def _lookup(self, subject: str, body: Mapping[str, Any]) -> dict[str, Any]:
        refs = tuple(
            (r["name"], r["subject"], int(r["version"])) for r in body.get("references") or ()
        )
        key = (body["schema"], body.get("schemaType", "AVRO"), refs)
        with self._lock:
            versions = [v for v in self._versions if v.subject == subject]
            if not versions:
                raise _subject_not_found(subject)
            for found in versions:
                content = found.content
                if (content.text, content.schema_type, content.references) == key:
                    return _version_body(found)
        raise _Problem(404, {"error_code": 40403, "message": "Schema not found"})

    def _content_or_404(self, number: int) -> _Content:
        content = self._content(number)
        if content is None or self._hide_once("id", number):
            raise _Problem(404, {"error_code": 40403, "message": f"Schema {number} not found"})
        return content

    # Apicurio v3 --------------------------------------------------------------------------

    async def _apicurio(self, request: web.Request, path: str) -> web.Response:
        parts = [part for part in path.split("/") if part]
        if request.method != "GET":
            raise _problem(405, "MethodNotAllowed", "only GET is served by the fake")
        match parts:
            case ["system", "info"]:
                return _json(200, {"name": "Apicurio Registry (fake)", "version": "3.0.0"})
            case ["ids", "globalIds", number] if number.isdigit():
                version = self._by_global_id(int(number))
                headers = {}
                if request.query.get("returnArtifactType") == "true":
                    headers["X-Registry-ArtifactType"] = version.content.schema_type
                return _content_response(version.content, headers)
            case ["ids", "contentIds", number] if number.isdigit():
                return _content_response(self._by_content_id(int(number)), {})
            case ["ids", "globalIds", number, "references"] if number.isdigit():
                return _json(200, _apicurio_references(self._by_global_id(int(number)).content))
            case ["ids", "contentIds", number, "references"] if number.isdigit():
                return _json(200, _apicurio_references(self._by_content_id(int(number))))
            case ["groups", group, "artifacts", artifact, "versions", version]:
                with self._lock:
                    found = self._find_version(artifact, version) if group == GROUP else None
                if found is None:
                    raise _problem(
                        404,
                        "VersionNotFoundException",
                        f"No version '{version}' found for artifact with ID '{artifact}' "
                        f"in group '{group}'.",
                    )
                return _json(200, _version_meta(found))
            case ["search", "versions"]:
                return _json(200, self._search(request.query))
        raise _problem(404, "NotFoundException", f"RESTEASY003210: no resource for {path}")

    def _by_global_id(self, number: int) -> _Version:
        with self._lock:
            found = next((v for v in self._versions if v.global_id == number), None)
        if found is None or self._hide_once("globalId", number):
            raise _problem(
                404, "ArtifactNotFoundException", f"No artifact with global ID '{number}' found."
            )
        return found

    def _by_content_id(self, number: int) -> _Content:
        content = self._content(number)
        if content is None or self._hide_once("contentId", number):
            raise _problem(
                404, "ContentNotFoundException", f"No content with ID '{number}' was found."
            )
        return content

    def _search(self, query: Mapping[str, str]) -> dict[str, Any]:
        with self._lock:
            found = [
                _version_meta(v)
                for v in self._versions
                if ("globalId" not in query or str(v.global_id) == query["globalId"])
                and ("contentId" not in query or str(v.content.content_id) == query["contentId"])
            ]
        limit = int(query.get("limit", "20"))
        return {"count": len(found), "versions": found[:limit]}


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    content_type = (
        "application/problem+json"
        if isinstance(body, dict) and "title" in body
        else "application/vnd.schemaregistry.v1+json"
    )
    return web.Response(
        status=status, text=json.dumps(body), content_type=content_type, headers=headers
    )


def _subject_not_found(subject: str) -> _Problem:
    return _Problem(404, {"error_code": 40401, "message": f"Subject '{subject}' not found."})


def _problem(status: int, name: str, detail: str) -> _Problem:
    return _Problem(status, {"title": detail, "status": status, "detail": detail, "name": name})


def _schema_body(content: _Content) -> dict[str, Any]:
    body: dict[str, Any] = {"schema": content.text}
    # The Confluent registry leaves schemaType out for AVRO, and references out when none.
    if content.schema_type != "AVRO":
        body["schemaType"] = content.schema_type
    if content.references:
        body["references"] = [
            {"name": name, "subject": subject, "version": version}
            for name, subject, version in content.references
        ]
    return body


def _version_body(version: _Version) -> dict[str, Any]:
    return {
        "subject": version.subject,
        "version": version.version,
        "id": version.content.content_id,
        "guid": version.content.guid,
        **_schema_body(version.content),
    }


def _version_meta(version: _Version) -> dict[str, Any]:
    return {
        "groupId": GROUP,
        "artifactId": version.subject,
        "version": str(version.version),
        "globalId": version.global_id,
        "contentId": version.content.content_id,
        "artifactType": version.content.schema_type,
        "state": "ENABLED",
    }


def _apicurio_references(content: _Content) -> list[dict[str, Any]]:
    return [
        {"groupId": GROUP, "artifactId": subject, "version": str(version), "name": name}
        for name, subject, version in content.references
    ]


def _content_response(content: _Content, headers: Mapping[str, str]) -> web.Response:
    content_type = "application/json" if content.schema_type in ("JSON", "AVRO") else "text/plain"
    return web.Response(text=content.text, content_type=content_type, headers=headers)
