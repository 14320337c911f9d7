"""A strict reader for YAML config mappings: every wrong key is named by its full path.

Sections read their keys through `Section`; `Section.done()` refuses the keys nobody read, so
a typo (`bootstrap_server:`) is an error instead of a silently ignored setting.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, overload

from sentinel.durations import parse_duration
from sentinel.errors import ConfigError

_MISSING: Any = object()
_Choice = TypeVar("_Choice", bound=str)


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

    def _get(self, key: str, default: object) -> object:
        self._read.add(key)
        value = self.raw.get(key, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                raise self.fail(key, "is required")
            return default
        return value

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    @overload
    def string(self, key: str) -> str: ...
    @overload
    def string(self, key: str, default: str) -> str: ...
    @overload
    def string(self, key: str, default: None) -> str | None: ...
    def string(self, key: str, default: object = _MISSING) -> str | None:
        value = self._get(key, default)
        if value is None or value is default:
            return value  # type: ignore[return-value]  # the overloads say which
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {_describe(value)}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {_describe(value)}")
        return value

    def integer(self, key: str, default: int, minimum: int = 0) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"must be a whole number of at least {minimum}, not {value!r}")
        return value

    @overload
    def duration(self, key: str, default: float) -> float: ...
    @overload
    def duration(self, key: str, default: None) -> float | None: ...
    def duration(self, key: str, default: float | None) -> float | None:
        """Seconds, from `30s`/`10m`/`PT1H` or a plain number of seconds."""
        value = self._get(key, default)
        if value is None or value is default:
            return default
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
        if not isinstance(value, str):
            raise self.fail(key, f"must be a duration such as 30s or 10m, not {_describe(value)}")
        try:
            return parse_duration(value)
        except ValueError as error:
            raise self.fail(key, str(error)) from None

    @overload
    def choice(self, key: str, choices: tuple[_Choice, ...], default: _Choice) -> _Choice: ...
    @overload
    def choice(self, key: str, choices: tuple[_Choice, ...], default: None) -> _Choice | None: ...
    def choice(
        self, key: str, choices: tuple[_Choice, ...], default: _Choice | None
    ) -> _Choice | None:
        value = self._get(key, default)
        for choice in choices:
            if value == choice:
                return choice
        if value is None:
            return None
        raise self.fail(key, f"must be one of {', '.join(choices)}, not {value!r}")

    @overload
    def str_list(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]: ...
    @overload
    def str_list(self, key: str, default: None) -> tuple[str, ...] | None: ...
    def str_list(self, key: str, default: tuple[str, ...] | None) -> tuple[str, ...] | None:
        """A list of strings; a single string is accepted as a list of one."""
        value = self._get(key, default)
        if value is None or value is default:
            return default
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
        return inline

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


def resolve_path(base: Path, raw: str) -> Path:
    """A path of the config file, relative to the file's own folder."""
    return base / Path(raw).expanduser()


def existing_path(section: Section, key: str, base: Path, raw: str) -> Path:
    """`raw` resolved against `base`; a ConfigError naming `key` when nothing is there."""
    path = resolve_path(base, raw)
    if not path.exists():
        raise section.fail(key, f"{path} does not exist")
    return path


def existing_file(section: Section, key: str, base: Path) -> Path | None:
    """The file named at `key`, if the key is given; a ConfigError when it is not a file."""
    raw = section.string(key, None)
    if raw is None:
        return None
    path = existing_path(section, key, base, raw)
    if not path.is_file():
        raise section.fail(key, f"{path} is not a file")
    return path


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()} (quote it if you meant a string)"
    return f"{type(value).__name__} {value!r}"
