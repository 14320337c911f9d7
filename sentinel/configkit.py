"""A strict reader for YAML config mappings: every wrong key is named by its full path.

Sections read their keys through `Section`; `Section.done()` refuses the keys nobody read, so
a typo (`bootstrap_server:`) is an error instead of a silently ignored setting.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from typing import Any

from sentinel.durations import parse_duration
from sentinel.errors import ConfigError

_MISSING: Any = object()


class Section:
    """One mapping of the config file, known by its dotted path (`kafka`, `alerting.slack`)."""

    def __init__(self, raw: object, path: str, source: str = "config") -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{source}: {path or 'the file'} must be a mapping of keys")
        self.raw: Mapping[Any, Any] = raw
        self.path = path
        self.source = source
        self._read: set[str] = set()

    def key_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self.key_path(key)}: {message}")

    def _get(self, key: str, default: Any) -> Any:
        self._read.add(key)
        value = self.raw.get(key, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                raise self.fail(key, "is required")
            return default
        return value

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def string(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is not default and not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {_describe(value)}")
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is not default and not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {_describe(value)}")
        return value

    def integer(self, key: str, default: Any = _MISSING, minimum: int = 0) -> Any:
        value = self._get(key, default)
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"must be a whole number of at least {minimum}, not {value!r}")
        return value

    def duration(self, key: str, default: Any = _MISSING) -> Any:
        """Seconds, from `30s`/`10m`/`PT1H` or a plain number of seconds."""
        value = self._get(key, default)
        if value is default:
            return value
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
        if not isinstance(value, str):
            raise self.fail(key, f"must be a duration such as 30s or 10m, not {_describe(value)}")
        try:
            return parse_duration(value)
        except ValueError as error:
            raise self.fail(key, str(error)) from None

    def choice(self, key: str, choices: tuple[str, ...], default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is not default and value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def str_list(self, key: str, default: Any = _MISSING) -> Any:
        """A list of strings; a single string is accepted as a list of one."""
        value = self._get(key, default)
        if value is default:
            return value
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(key, "must be a list of strings")
        return tuple(value)

    def str_map(self, key: str) -> dict[str, str]:
        value = self._get(key, {})
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise self.fail(key, "must be a mapping of names to strings")
        return dict(value)

    def section(self, key: str) -> Section:
        return Section(self._get(key, {}), self.key_path(key), self.source)

    def sections(self, key: str) -> list[Section]:
        """A list of mappings, each its own section (`alerting.webhooks[0]`)."""
        value = self._get(key, [])
        if not isinstance(value, list):
            raise self.fail(key, "must be a list")
        return [
            Section(item, f"{self.key_path(key)}[{index}]", self.source)
            for index, item in enumerate(value)
        ]

    def secret(self, key: str, required: bool = False) -> str | None:
        """`key` inline, or `key_env` naming an environment variable that holds it."""
        env_key = f"{key}_env"
        inline = self.string(key, None)
        variable = self.string(env_key, None)
        if inline is not None and variable is not None:
            raise self.fail(key, f"give either {key} or {env_key}, not both")
        if variable is not None:
            value = os.environ.get(variable)
            if not value:
                raise self.fail(env_key, f"environment variable {variable} is not set")
            return value
        if inline is None and required:
            raise self.fail(key, f"is required (or {env_key}: VARIABLE_NAME)")
        return inline  # type: ignore[no-any-return]

    def done(self) -> None:
        """Refuse every key that was not read: it is a typo or belongs elsewhere."""
        for key in self.raw:
            if not isinstance(key, str):
                raise ConfigError(
                    f"{self.source}: {self.key_path(str(key))}: keys must be names; "
                    "YAML reads bare on/off/yes/no as booleans, quote them"
                )
            if key not in self._read:
                hint = difflib.get_close_matches(key, sorted(self._read), n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise ConfigError(f"{self.source}: {self.key_path(key)}: unknown key{suggestion}")


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()} (quote it if you meant a string)"
    return f"{type(value).__name__} {value!r}"
