"""HTTP GETs to the registry: auth, TLS, timeout, retries; a 2xx answer or a typed error.

Only GET is ever sent (the sentinel reads, it never registers). No raw aiohttp or JSON
exception leaves this module: a failure is `RegistryUnavailable` (retry later) or
`SchemaNotFound` (the registry's own 404), and both name the URL.
"""

from __future__ import annotations

import asyncio
import base64
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import orjson

from sentinel import __version__
from sentinel.registry.failures import RegistryUnavailable, SchemaNotFound
from sentinel.registry.settings import RegistrySettings

USER_AGENT = f"rollout-sentinel/{__version__}"
# What the official Confluent client retries (schema_registry_client.py, is_retriable).
RETRIABLE = frozenset({408, 429, 500, 502, 503, 504})
_PREVIEW = 120


@dataclass(frozen=True, slots=True)
class Answer:
    """A 2xx answer, read in full."""

    url: str
    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self, transport: Transport) -> Any:
        """The body as JSON; garbage is the registry being unavailable, not a crash."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise transport.unavailable(
                f"{self.url}: answered {self.status} with something that is not JSON: "
                f"{_preview(self.body)}"
            ) from None


class Transport:
    """One kept aiohttp session; `up` and `last_error` describe the last request."""

    def __init__(
        self,
        settings: RegistrySettings,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.up = True
        self.last_error: str | None = None
        self._sleep = sleep
        self._jitter = jitter
        self._session: aiohttp.ClientSession | None = None
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout)
        self._ssl: ssl.SSLContext | bool = True
        if settings.ca_file is not None:
            self._ssl = ssl.create_default_context(cafile=str(settings.ca_file))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def unavailable(self, message: str, retry_after: float | None = None) -> RegistryUnavailable:
        """Record a failure (for /readyz and the `up` metric) and give the error to raise."""
        self.up = False
        self.last_error = message
        return RegistryUnavailable(message, retry_after)

    async def get(self, path: str, accept: str, params: Mapping[str, str] | None = None) -> Answer:
        """GET `url + path`, retrying transient failures with jittered exponential back-off."""
        url = self.settings.url + path
        attempts = self.settings.retries + 1
        problem = ""
        retry_after: float | None = None
        for attempt in range(attempts):
            retry_after = None
            try:
                answer = await self._once(url, accept, params)
            except aiohttp.ClientSSLError as error:
                # A certificate does not fix itself between two attempts.
                raise self.unavailable(
                    f"{url}: TLS failed ({error}); check registry.ca_file"
                ) from None
            except TimeoutError:  # before OSError, its base class
                problem = f"no answer within {self.settings.timeout:g}s (registry.timeout)"
            except (aiohttp.ClientError, OSError) as error:
                problem = _connection_problem(error)
            else:
                if 200 <= answer.status < 300:
                    self._ok()
                    return answer
                if answer.status == 404:
                    self._not_found(answer)
                if answer.status not in RETRIABLE:
                    raise self.unavailable(_refusal(answer))
                problem = f"HTTP {answer.status} {_preview(answer.body)}".rstrip()
                retry_after = _retry_after(answer.headers.get("Retry-After"))
            if attempt + 1 == attempts:
                break
            delay = self._jitter() * min(
                self.settings.backoff * 2**attempt, self.settings.backoff_max
            )
            if retry_after is not None:
                if retry_after > self.settings.backoff_max:
                    raise self.unavailable(
                        f"{url}: {problem}; asked to retry after {retry_after:g}s", retry_after
                    )
                delay = max(delay, retry_after)
            await self._sleep(delay)
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        raise self.unavailable(f"{url}: {problem} ({tries})", retry_after)

    async def try_get(
        self, path: str, accept: str, params: Mapping[str, str] | None = None
    ) -> Answer | None:
        """One attempt for something nice to have (a schema's subject): a 2xx answer, or None
        on any failure, which is not counted against the registry's `up`."""
        try:
            answer = await self._once(self.settings.url + path, accept, params)
        except (aiohttp.ClientError, OSError):  # TimeoutError is an OSError
            return None
        return answer if 200 <= answer.status < 300 else None

    async def _once(self, url: str, accept: str, params: Mapping[str, str] | None) -> Answer:
        session = self._session
        if session is None or session.closed:
            session = self._session = self._new_session()
        # No redirects: nothing is fetched from any other address than the registry's.
        async with session.get(
            url, headers={"Accept": accept}, params=params, allow_redirects=False
        ) as response:
            body = await response.read()
            return Answer(url, response.status, body, response.headers)

    def _new_session(self) -> aiohttp.ClientSession:
        headers = {"User-Agent": USER_AGENT}
        if self.settings.token is not None:
            headers["Authorization"] = f"Bearer {self.settings.token}"
        elif self.settings.username is not None:
            # By hand: aiohttp.BasicAuth is deprecated and its replacement is recent (3.14).
            pair = f"{self.settings.username}:{self.settings.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return aiohttp.ClientSession(
            headers=headers,
            timeout=self._timeout,
            connector=aiohttp.TCPConnector(ssl=self._ssl),
        )

    def _ok(self) -> None:
        self.up = True
        self.last_error = None

    def _not_found(self, answer: Answer) -> None:
        """Raise SchemaNotFound when the 404 is the registry's own; otherwise return.

        A 404 without a registry error body comes from something else (a wrong path in
        registry.url, a proxy): believing it would report every record as schema_not_found.
        """
        message = _registry_404(answer.body)
        if message is None:
            return
        self._ok()
        raise SchemaNotFound(f"{answer.url}: {message}")


def _registry_404(body: bytes) -> str | None:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    code = document.get("error_code")
    # Confluent, Karapace and Apicurio's ccompat: 40401 subject, 40402 version, 40403 schema.
    if isinstance(code, int) and 40400 < code < 40500:
        return str(document.get("message") or f"not found (error_code {code})")
    # Apicurio's own API: problem details (RFC 7807).
    if document.get("status") == 404 and ("title" in document or "detail" in document):
        return str(document.get("detail") or document.get("title"))
    return None


def _refusal(answer: Answer) -> str:
    status = answer.status
    if status == 404:
        hint = "not a registry error; is registry.url right?"
    elif status in (401, 403):
        hint = "check registry.username/password_env or token_env"
    elif 300 <= status < 400:
        hint = f"a redirect to {answer.headers.get('Location', '?')}, not followed"
    else:
        hint = ""
    text = f"{answer.url}: HTTP {status} {_preview(answer.body)}".rstrip()
    return f"{text} ({hint})" if hint else text


def _connection_problem(error: BaseException) -> str:
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"cannot connect ({error.os_error.strerror or error.os_error})"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "the connection was closed before an answer"
    return f"{type(error).__name__}: {error}".rstrip(": ")


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _preview(body: bytes) -> str:
    """The start of a body, for messages: enough to recognise HTML or a proxy's page."""
    if not body:
        return "(an empty body)"
    text = body[:_PREVIEW].decode("utf-8", "replace").replace("\n", " ").strip()
    return repr(text + "…" if len(body) > _PREVIEW else text)
