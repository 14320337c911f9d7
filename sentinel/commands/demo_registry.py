"""A small schema registry for `sentinel demo`: the part of the Confluent-compatible API that
producers and the sentinel use, in memory, so the demo needs nothing installed.

Producers of the demo register through `register` (in the same process); the sentinel reads
over HTTP like from any registry. Not for production: nothing is kept, and anyone may write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sentinel.web.http import serve

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


@dataclass
class _Subject:
    versions: list[int] = field(default_factory=list)  # schema ids, version n at index n - 1


class DemoRegistry:
    """Subjects, versions and schema ids, served on `127.0.0.1:port` once started."""

    def __init__(self) -> None:
        self._schemas: dict[int, str] = {}  # id -> the schema's text
        self._subjects: dict[str, _Subject] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def register(self, subject: str, schema: dict[str, Any]) -> tuple[int, int]:
        """(schema id, version) of `schema` under `subject`; a new version when it is new."""
        text = json.dumps(schema, sort_keys=True)
        schema_id = next((i for i, known in self._schemas.items() if known == text), None)
        if schema_id is None:
            schema_id = len(self._schemas) + 1
            self._schemas[schema_id] = text
        versions = self._subjects.setdefault(subject, _Subject()).versions
        if schema_id not in versions:
            versions.append(schema_id)
        return schema_id, versions.index(schema_id) + 1

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/schemas/types", self._types)
        app.router.add_get("/schemas/ids/{id}", self._by_id)
        app.router.add_get("/schemas/ids/{id}/versions", self._where)
        app.router.add_get("/subjects", self._subject_names)
        app.router.add_get("/subjects/{subject}/versions/{version}", self._version)
        self._runner, self.port = await serve(app, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _types(self, request: web.Request) -> web.Response:
        return _answer(["JSON"])

    async def _by_id(self, request: web.Request) -> web.Response:
        text = self._schemas.get(_number(request.match_info["id"]))
        if text is None:
            return _answer({"error_code": 40403, "message": "Schema not found"}, 404)
        return _answer({"schema": text, "schemaType": "JSON"})

    async def _where(self, request: web.Request) -> web.Response:
        schema_id = _number(request.match_info["id"])
        if schema_id not in self._schemas:
            return _answer({"error_code": 40403, "message": "Schema not found"}, 404)
        return _answer(
            [
                {"subject": name, "version": subject.versions.index(schema_id) + 1}
                for name, subject in sorted(self._subjects.items())
                if schema_id in subject.versions
            ]
        )

    async def _subject_names(self, request: web.Request) -> web.Response:
        return _answer(sorted(self._subjects))

    async def _version(self, request: web.Request) -> web.Response:
        name = request.match_info["subject"]
        subject = self._subjects.get(name)
        if subject is None:
            return _answer({"error_code": 40401, "message": f"Subject '{name}' not found."}, 404)
        wanted = request.match_info["version"]
        number = len(subject.versions) if wanted == "latest" else _number(wanted)
        if not 1 <= number <= len(subject.versions):
            return _answer({"error_code": 40402, "message": f"Version {wanted} not found."}, 404)
        schema_id = subject.versions[number - 1]
        return _answer(
            {
                "subject": name,
                "id": schema_id,
                "version": number,
                "schemaType": "JSON",
                "schema": self._schemas[schema_id],
            }
        )


def _number(text: str) -> int:
    return int(text) if text.isdigit() else -1


def _answer(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type=CONTENT_TYPE)
