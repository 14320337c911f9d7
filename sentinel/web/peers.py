"""The other replicas, asked for what they own (contract section 11): the `http.peers` names
resolved to every address (a headless Service), this replica's own left out, each asked
concurrently with a short timeout. A peer that does not answer is named (`partial`), never
silently left out. A request to a peer carries LOCAL_HEADER, so the peer answers for itself
only and a question never travels further."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from sentinel.config import BasicAuth

log = logging.getLogger("sentinel.peers")

LOCAL_HEADER = "X-Sentinel-Local"
# A followed stream that ends or fails is opened again after this long.
FOLLOW_RETRY_S = 5.0
# A message of a followed stream longer than this is dropped (a finding or a summary is a
# few kB): a peer cannot make this replica hold more for it.
MAX_MESSAGE_BYTES = 256 * 1024


@dataclass
class Answers:
    """What the peers said: (address, HTTP status, JSON body) each, and who did not answer."""

    bodies: list[tuple[str, int, Any]] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)

    def ok(self) -> list[Any]:
        """The bodies of the 200 answers."""
        return [body for _, status, body in self.bodies if status == 200]


def is_local(request: web.Request) -> bool:
    """Asked by a peer: answer for this replica only."""
    return LOCAL_HEADER in request.headers


class Peers:
    """The replicas named by `http.peers`; without names there are none and nothing is asked."""

    def __init__(
        self,
        names: Sequence[str],
        own_port: Callable[[], int],
        timeout_s: float = 2.0,
        auth: BasicAuth | None = None,
    ) -> None:
        self.names = tuple(names)
        self._own_port = own_port
        self._timeout_s = timeout_s
        self._headers = {LOCAL_HEADER: "1", "Accept": "application/json"}
        if auth is not None and auth.everyone:
            # Every replica has the same config: a peer asks as its first user, whom all know.
            first = auth.everyone[0]
            token = base64.b64encode(f"{first.username}:{first.password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._session: aiohttp.ClientSession | None = None
        self._local_ips: dict[str, bool] = {}

    async def start(self) -> None:
        if self.names and self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers)

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def addresses(self) -> tuple[list[str], list[str]]:
        """(every peer's `host:port`, the names that did not resolve)."""
        loop = asyncio.get_running_loop()
        resolved = await asyncio.gather(
            *(_resolve(loop, name) for name in self.names), return_exceptions=True
        )
        found: list[str] = []
        unresolved: list[str] = []
        for name, result in zip(self.names, resolved, strict=True):
            if isinstance(result, BaseException):
                log.warning("peer name did not resolve", extra={"peer": name, "error": str(result)})
                unresolved.append(name)
                continue
            for host, port in result:
                address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                if address not in found and not self._is_own(host, port):
                    found.append(address)
        return found, unresolved

    async def ask(self, path: str, params: Mapping[str, str] | None = None) -> Answers:
        """GET `path` from every peer at once; JSON answers, and who did not give one."""
        return await self._everyone(
            lambda session, address: self._get(session, address, path, params)
        )

    async def post(
        self, path: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> Answers:
        """POST the JSON `body` to every peer at once (an action forwarded to the rollout's
        owner, which only that replica takes); JSON answers, and who did not give one."""
        return await self._everyone(
            lambda session, address: self._post(session, address, path, body, headers)
        )

    async def _everyone(
        self, call: Callable[[aiohttp.ClientSession, str], Awaitable[Any]]
    ) -> Answers:
        """`call` on every peer at once: each answer (None for none) sorted into `Answers`."""
        session = self._session
        answers = Answers()
        if session is None:
            return answers
        addresses, answers.partial = await self.addresses()
        results = await asyncio.gather(*(call(session, address) for address in addresses))
        for address, result in zip(addresses, results, strict=True):
            if result is None:
                answers.partial.append(address)
            else:
                answers.bodies.append((address, *result))
        return answers

    async def _post(
        self,
        session: aiohttp.ClientSession,
        address: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str] | None,
    ) -> tuple[int, Any] | None:
        # An action waits for the owner's next batch: longer than a read may take.
        timeout = aiohttp.ClientTimeout(total=max(self._timeout_s, 10.0))
        sent = {"Content-Type": "application/json", **(headers or {})}
        try:
            async with session.post(
                f"http://{address}{path}", data=body, headers=sent, timeout=timeout
            ) as answer:
                if answer.status >= 500 or answer.status in (401, 403):
                    log.warning("peer refused", extra={"peer": address, "status": answer.status})
                    return None
                return answer.status, await answer.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            log.warning("peer did not answer", extra={"peer": address, "error": str(error)})
            return None

    async def follow(self, address: str, deliver: Callable[[bytes], None]) -> None:
        """Forward each message of a peer's /api/v1/stream to `deliver`, reconnecting until
        cancelled (keepalive comments stay behind)."""
        timeout = aiohttp.ClientTimeout(total=None, connect=self._timeout_s, sock_read=None)
        while self._session is not None:
            try:
                async with self._session.get(
                    f"http://{address}/api/v1/stream", timeout=timeout
                ) as answer:
                    if answer.status == 200:
                        await _forward(answer.content, deliver)
            except (aiohttp.ClientError, HttpProcessingError, TimeoutError) as error:
                # HttpProcessingError: a line longer than the reader holds (LineTooLong).
                log.debug("peer stream lost", extra={"peer": address, "error": str(error)})
            await asyncio.sleep(FOLLOW_RETRY_S)

    async def _get(
        self,
        session: aiohttp.ClientSession,
        address: str,
        path: str,
        params: Mapping[str, str] | None,
    ) -> tuple[int, Any] | None:
        timeout = aiohttp.ClientTimeout(total=self._timeout_s)
        try:
            async with session.get(
                f"http://{address}{path}", params=params, timeout=timeout
            ) as answer:
                if answer.status not in (200, 404):
                    log.warning("peer refused", extra={"peer": address, "status": answer.status})
                    return None
                return answer.status, await answer.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            log.warning("peer did not answer", extra={"peer": address, "error": str(error)})
            return None

    def _is_own(self, host: str, port: int) -> bool:
        """This replica: its port, on an address of this machine (one it can bind to)."""
        if port != self._own_port():
            return False
        if host not in self._local_ips:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind((host, 0))
                    self._local_ips[host] = True
                except OSError:
                    self._local_ips[host] = False
        return self._local_ips[host]


async def _resolve(loop: asyncio.AbstractEventLoop, name: str) -> list[tuple[str, int]]:
    host, _, port = name.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    infos = await loop.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    return [(str(info[4][0]), int(info[4][1])) for info in infos]


async def _forward(content: aiohttp.StreamReader, deliver: Callable[[bytes], None]) -> None:
    """Each message of a peer's stream, as its lines come; one longer than MAX_MESSAGE_BYTES
    is not held nor forwarded (none of ours is near it)."""
    message: list[bytes] = []
    size = 0
    async for line in content:
        if line in (b"\n", b"\r\n"):
            if message and size <= MAX_MESSAGE_BYTES:
                deliver(b"".join(message) + b"\n")
            message, size = [], 0
        elif not line.startswith(b":"):
            size += len(line)
            if size <= MAX_MESSAGE_BYTES:
                message.append(line)
            elif message:
                log.warning("peer stream message too long: dropped", extra={"bytes": size})
                message = []


async def cancel(tasks: Sequence[asyncio.Task[None]]) -> None:
    """Cancel the tasks and wait until they are gone."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
