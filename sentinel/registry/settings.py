"""The `registry` section of the config file (contract section 10), read and checked once."""

from __future__ import annotations

import ssl
import string
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from sentinel.configkit import SECRET, Section

Api = Literal["confluent", "apicurio-v3"]
APICURIO_V3_PATH = "/apis/registry/v3"
PLACEHOLDERS = ("type", "topic")


@dataclass(frozen=True)
class RegistrySettings:
    """How to reach the registry and how long to trust what it said; times in seconds."""

    url: str  # without a trailing slash
    api: Api = "confluent"  # unless given: apicurio-v3 when the url ends in its path
    username: str | None = field(default=None, metadata=SECRET)
    password: str | None = field(default=None, repr=False, metadata=SECRET)
    token: str | None = field(default=None, repr=False, metadata=SECRET)
    ca_file: Path | None = None
    timeout: float = 5.0  # one HTTP request, connection included
    subject: str = "{type}"  # the subject of an unframed event's writer schema
    latest_ttl: float = 60.0  # a subject's latest version is re-read after this
    retries: int = 2  # further attempts of one request on a transient failure
    backoff: float = 0.2  # the first retry waits up to this (full jitter), doubling each time
    backoff_max: float = 5.0  # no retry waits longer; a longer Retry-After ends the retries
    # Compiled schemas kept by id (least recently used dropped first).
    cache_size: int = field(default=1000, metadata={"minimum": 1})
    not_found_ttl: float = 10.0  # a 404 is believed this long, then asked again

    def subject_for(self, event_type: str, topic: str = "") -> str:
        """The subject named by the template for one event type (and topic)."""
        return self.subject.format_map({"type": event_type, "topic": topic})

    @property
    def subject_uses_topic(self) -> bool:
        return "topic" in _placeholders(self.subject)


def parse_registry(section: Section, base: Path) -> RegistrySettings:
    """Read `registry:`; every problem is a ConfigError naming the key (`registry.timeout`)."""
    api_given = section.has("api")
    settings = section.read(RegistrySettings, base)
    url = settings.url.strip().rstrip("/")
    settings = replace(settings, url=url, api=settings.api if api_given else _api_from_url(url))
    _check_url(section, settings)
    _check_auth(section, settings)
    _check_ca_file(section, settings)
    try:
        names = _placeholders(settings.subject)
    except ValueError:
        raise section.fail("subject", "has an unmatched { or }: write {type} or {topic}") from None
    for name in names:
        if name not in PLACEHOLDERS:
            raise section.fail(
                "subject", f"unknown placeholder {{{name}}}: use {{type}} and {{topic}}"
            )
    return settings


def _api_from_url(url: str) -> Api:
    return "apicurio-v3" if url.strip().rstrip("/").endswith(APICURIO_V3_PATH) else "confluent"


def _check_url(section: Section, settings: RegistrySettings) -> None:
    parts = urlsplit(settings.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise section.fail("url", f"must be an http:// or https:// URL, not {settings.url!r}")
    if parts.username or parts.password:
        raise section.fail(
            "url", "must not hold credentials: use username and password_env (or token_env)"
        )
    native = parts.path.rstrip("/").endswith(APICURIO_V3_PATH)
    if settings.api == "apicurio-v3" and not native:
        raise section.fail(
            "url", f"must end in {APICURIO_V3_PATH} with api apicurio-v3, not {settings.url!r}"
        )
    if settings.api == "confluent" and native:
        raise section.fail(
            "api",
            f"is confluent but the url ends in {APICURIO_V3_PATH}: set api: apicurio-v3, or use "
            "Apicurio's Confluent-compatible API at /apis/ccompat/v7",
        )


def _check_auth(section: Section, settings: RegistrySettings) -> None:
    if settings.username is not None and settings.password is None:
        raise section.fail("password", "is required with username (or password_env: VARIABLE)")
    if settings.password is not None and settings.username is None:
        raise section.fail("username", "is required with a password")
    if settings.token is not None and settings.username is not None:
        raise section.fail(
            "token", "give either username and password (basic auth) or a token (bearer), not both"
        )


def _check_ca_file(section: Section, settings: RegistrySettings) -> None:
    if settings.ca_file is None:
        return
    if not settings.ca_file.is_file():
        raise section.fail("ca_file", f"{settings.ca_file} is not a file")
    try:
        ssl.create_default_context(cafile=str(settings.ca_file))
    except (ssl.SSLError, OSError) as error:
        raise section.fail(
            "ca_file", f"{settings.ca_file} is not a PEM CA certificate ({error})"
        ) from None


def _placeholders(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def settings_for_url(url: str) -> RegistrySettings:
    """Defaults for a bare URL (`sentinel check --registry URL`); the API from its path."""
    return RegistrySettings(url=url.strip().rstrip("/"), api=_api_from_url(url))
