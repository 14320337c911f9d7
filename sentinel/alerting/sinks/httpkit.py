"""What the sinks' transports share: one HTTP answer sorted into sent, retry later, retry with
back-off, rejected for good, or sink broken, and a JSON POST over one aiohttp session. No retry
sleeps in here: the delivery worker waits, so one slow sink never holds up another."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from sentinel import __version__
from sentinel.alerting.delivery import DeliveryError, Rejected, RetryLater, SinkBroken, Transient

USER_AGENT = f"rollout-sentinel/{__version__}"
CONNECTION_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)
# Of an error's answer, what a sink may read; the first 100 characters are logged.
ANSWER_CHARS = 2000


class JsonPost:
    """A JSON POST over one aiohttp session, opened on first use inside the running loop."""

    refresh_interval: float | None = None

    def __init__(self, name: str, url: str, timeout: float) -> None:
        self.name = name
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        # What the sink answered the last delivery that went out (`sentinel alerts test` says it).
        self.answer: str | None = None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, body: bytes, headers: Mapping[str, str]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": USER_AGENT}
            )
        try:
            async with self._session.post(
                self._url,
                data=body,
                headers={"Content-Type": "application/json", **headers},
                allow_redirects=False,
            ) as response:
                text = (await response.text(errors="replace")).strip()[:ANSWER_CHARS]
                status, answer_headers = response.status, response.headers
        except CONNECTION_ERRORS as error:
            raise Transient(describe(error)) from None
        if 200 <= status < 300:
            self.answer = f"HTTP {status}"
            return
        if 300 <= status < 400:
            location = answer_headers.get("Location", "elsewhere")
            raise SinkBroken(f"HTTP {status}: the URL redirects to {location}; use that URL")
        raise self.refused(status, answer_headers, text)

    def refused(self, status: int, headers: Mapping[str, Any], answer: str) -> DeliveryError:
        """What an answer other than 2xx or a redirect means; a sink whose service says more in
        its body (PagerDuty names the field it refuses) reads `answer` here."""
        return http_error(status, headers, answer[:100])


def http_error(status: int, headers: Mapping[str, Any], answer: str) -> DeliveryError:
    said = f"HTTP {status}" + (f" {answer}" if answer else "")
    if status == 429:
        return RetryLater(said, retry_after(headers))
    if status == 408 or status >= 500:
        return Transient(said)
    if status in (401, 403, 404, 410):
        return SinkBroken(f"{said}: check the URL and its credentials")
    return Rejected(said)


def retry_after(headers: Mapping[str, Any]) -> float:
    """Seconds from a Retry-After header (seconds or an HTTP date); 1 when absent or unreadable."""
    value: Any = None
    for name, candidate in headers.items():
        if name.lower() == "retry-after":
            value = candidate
            break
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None:
        return 1.0
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return 1.0
    return max(moment.timestamp() - time.time(), 0.0)


def describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"cannot reach the sink: {text}"[:200]


def dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
