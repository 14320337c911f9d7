"""A strict reader for YAML config mappings: every wrong key is named by its full path.

Sections read their keys through `Section`; `Section.done()` refuses the keys nobody read, so
a typo (`bootstrap_server:`) is an error instead of a silently ignored setting. A section that
is one settings dataclass is read by `Section.read`, from the dataclass itself: each setting
and its default are written once, in the dataclass.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, overload

from sentinel.core.durations import parse_duration
from sentinel.core.errors import ConfigError

_MISSING: Any = object()
_Choice = TypeVar("_Choice", bound=str)
_Settings = TypeVar("_Settings")
# `field(metadata=SECRET)`: read inline or from the environment variable `<key>_env` names.
SECRET: Mapping[str, Any] = {"secret": True}


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

    def take(self, keys: Iterable[str]) -> dict[str, Any]:
        """The values of `keys` given here (read, so not refused), for another section: keys
        that moved keep working from where users wrote them."""
        taken = {}
        for key in keys:
            if self.has(key):
                self._read.add(key)
                taken[key] = self.raw[key]
        return taken

    def adding(self, values: Mapping[str, Any]) -> Section:
        """This section with `values` for the keys it does not give itself."""
        return Section({**values, **self.raw}, self.path, self.source)

    def read(self, cls: type[_Settings], base: Path | None = None, **given: Any) -> _Settings:
        """A `cls` (a dataclass) from this section, its unknown keys refused.

        Each field is a key, read by its type: `str`, `bool`, `int`, `float` (a duration, in
        seconds), a `Literal` of strings (a choice), `tuple[str, ...]` (a list, or one
        string), `dict[str, str]`, `Path` (a file, relative to `base`), another dataclass
        (a sub-section) or `tuple[D, ...]` of a dataclass `D` (a list of sub-sections);
        `X | None` makes it optional. The field's default is the default; without one the key
        is required. `field(metadata=...)` says what a type cannot:
        `minimum` (for an int), `secret` (the key inline or `<key>_env`), `given` (not a key of
        the file: the caller passes it in `given`).
        """
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = dict(given)
        fields = [
            spec
            for spec in dataclasses.fields(cls)  # type: ignore[arg-type]
            if not (spec.metadata.get("given") or spec.name in given)
        ]
        # Unknown keys first: a misspelt `pasword:` is told as such, not as a missing one.
        for spec in fields:
            self._read.add(spec.name)
            if spec.metadata.get("secret"):
                self._read.add(f"{spec.name}_env")
        self.done()
        for spec in fields:
            default = _default_of(spec)
            values[spec.name] = self._typed(spec, hints[spec.name], default, base)
        self.done()
        return cls(**values)

    def _typed(
        self, spec: dataclasses.Field[Any], hint: Any, default: Any, base: Path | None
    ) -> Any:
        key, meta = spec.name, spec.metadata
        kind, optional = _unwrap(hint)
        fallback: Any = None if optional and default is _MISSING else default
        if meta.get("secret"):
            value = self.secret(key, required=fallback is _MISSING)
            return fallback if value is None else value
        if kind is str:
            return self.string(key, fallback)
        if kind is bool:
            return self.boolean(key, fallback)
        if kind is int:
            return self.integer(key, fallback, minimum=meta.get("minimum", 0))
        if kind is float:
            return self.duration(key, fallback)
        if typing.get_origin(kind) is Literal:
            return self.choice(key, typing.get_args(kind), fallback)
        if kind == tuple[str, ...]:
            return self.str_list(key, fallback)
        if kind == dict[str, str]:
            if self.has(key) or fallback is _MISSING:
                return self.str_map(key)
            self._read.add(key)  # known, so a misspelt one is told what it may have meant
            return fallback
        if kind is Path:
            found = existing_file(self, key, base or Path.cwd())
            return fallback if found is None else found
        if _is_dataclass_tuple(kind):
            if not self.has(key):
                if fallback is _MISSING:
                    raise self.fail(key, "is required")
                self._read.add(key)
                return fallback
            item = typing.cast(type[Any], typing.get_args(kind)[0])
            return tuple(each.read(item, base) for each in self.sections(key))
        if dataclasses.is_dataclass(kind):
            if not self.has(key):
                if fallback is _MISSING:
                    raise self.fail(key, "is required")
                self._read.add(key)
                return fallback
            return self.section(key).read(typing.cast(type[Any], kind), base)
        raise TypeError(f"{self.key_path(key)}: no reader for {hint!r}")

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


def _default_of(spec: dataclasses.Field[Any]) -> Any:
    if spec.default is not dataclasses.MISSING:
        return spec.default
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    return _MISSING


def _is_dataclass_tuple(kind: Any) -> bool:
    """`tuple[X, ...]` of a dataclass `X`: a list of sub-sections."""
    args = typing.get_args(kind)
    return (
        typing.get_origin(kind) is tuple
        and len(args) == 2
        and args[1] is Ellipsis
        and dataclasses.is_dataclass(args[0])
    )


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """(the type, whether None is allowed) of `X` or `X | None`."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        kinds = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return (kinds[0] if len(kinds) == 1 else hint), len(kinds) < len(typing.get_args(hint))
    return hint, False


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()} (quote it if you meant a string)"
    return f"{type(value).__name__} {value!r}"
