"""The `sentinel run` config file, read and checked once at start (contract sections 7 and 9)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from sentinel.alerting.settings_parser import AlertingSettings, parse_alerting
from sentinel.alerting.sinks.otlp_settings import OtlpSettings, parse_otlp
from sentinel.configkit import SECRET, Section, existing_path, resolve_path
from sentinel.core.engine.engine import DEFAULT_RETENTION_S
from sentinel.core.engine.limits import Limits
from sentinel.core.engine.tracing import TraceOptions
from sentinel.core.errors import ConfigError
from sentinel.core.ports.history import DEFAULT_HISTORY_RETENTION_S
from sentinel.kafka.settings import MOVED as KAFKA_MOVED
from sentinel.kafka.settings import KafkaSettings, parse_kafka
from sentinel.registry.settings import RegistrySettings, parse_registry

LogLevel = Literal["debug", "info", "warning", "error"]
StateMode = Literal["single", "changelog"]
STATE_MODES: tuple[StateMode, ...] = ("single", "changelog")
_LISTEN = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})")


@dataclass(frozen=True)
class BasicAuthUser:
    """One user of the board and the rollout API (`http.basic_auth.users[i]`)."""

    username: str
    password: str = field(repr=False, metadata=SECRET)


@dataclass(frozen=True)
class BasicAuth:
    """The users of the board and the rollout API (contract sections 11 and 14): one user
    (`username`, `password`), several (`users`), or both (the one first)."""

    username: str | None = None
    password: str | None = field(default=None, repr=False, metadata=SECRET)
    users: tuple[BasicAuthUser, ...] = ()

    @property
    def everyone(self) -> tuple[BasicAuthUser, ...]:
        """Every user, the single-user form's first: a replica asks its peers as the first
        (every replica has the same config, so each knows it)."""
        if self.username is None or self.password is None:
            return self.users
        return (BasicAuthUser(self.username, self.password), *self.users)

    @property
    def usernames(self) -> tuple[str, ...]:
        return tuple(user.username for user in self.everyone)


@dataclass(frozen=True)
class HttpSettings:
    """Where /metrics, /healthz, /readyz, the status board and the rollout API are served."""

    host: str = "127.0.0.1"
    port: int = 9464
    # `host:port` names, each resolving to one or more replicas (a headless Service): the
    # board and the API ask every address but this replica's own.
    peers: tuple[str, ...] = ()
    peer_timeout: float = 2.0
    basic_auth: BasicAuth | None = None
    # Basic-auth user names that may act on rollouts from the board (contract section 14):
    # acknowledge, snooze, note, abandon. Everyone else only reads.
    operators: tuple[str, ...] = ()
    # The key of the board's action tokens (`action_secret_env`), the same on every replica;
    # unset, one is derived from the basic-auth password (sentinel.status.operators).
    action_secret: str | None = field(default=None, repr=False)

    @property
    def listen(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class LogSettings:
    """Logs on standard error."""

    level: LogLevel = "info"


@dataclass(frozen=True)
class WatchSettings:
    """The live loop (`watch:`); every time is in seconds."""

    # Records per batch. Each batch is one store transaction: 2,000 against 500 read about a
    # fifth more events a second with SQLite state (docs/operations.md), and takes about 0.1 s.
    max_batch: int = field(default=2000, metadata={"minimum": 1})
    lag_threshold: int = 100  # records behind before a partition holds its deadlines
    tick: float = 1.0  # longest sleep in a fetch when nothing is due
    bus_silence: float | None = None  # no record for this long is a `bus_silent` finding
    fetch_watchdog: float = 60.0  # no answer from the broker this long: /healthz fails
    reload_poll: float = 2.0  # how often the expectation and schema files are looked at


@dataclass(frozen=True)
class EngineSettings:
    """What the engine remembers (`engine:`), live and in `replay --config`."""

    closed_retention: float = DEFAULT_RETENTION_S  # closed rollouts and event ids


@dataclass(frozen=True)
class TracingSettings:
    """`tracing:` (contract section 13): read events' trace context, link to traces, and
    export spans over OTLP when `otlp` is set."""

    context: bool = True
    trace_url: str | None = None  # {trace_id} {span_id} {expectation} {rollout} {step} ...
    otlp: OtlpSettings | None = None
    resource: dict[str, str] = field(default_factory=dict)

    @property
    def options(self) -> TraceOptions:
        """What the engine needs of it."""
        return TraceOptions(self.context, self.trace_url)


@dataclass(frozen=True)
class StateSettings:
    """Where rollout state survives a restart."""

    path: Path | None = None  # None keeps state in memory only
    mode: StateMode = "single"


@dataclass(frozen=True)
class HistorySettings:
    """How long closed rollouts are kept, in full, for the API and `sentinel report`."""

    retention: float = DEFAULT_HISTORY_RETENTION_S


@dataclass(frozen=True)
class Config:
    """Everything `sentinel run` needs, with paths made absolute."""

    expectations: Path
    schemas: Path
    kafka: KafkaSettings
    http: HttpSettings
    log: LogSettings
    watch: WatchSettings
    alerting: AlertingSettings | None
    registry: RegistrySettings | None
    state: StateSettings
    source: Path  # the config file itself
    history: HistorySettings = field(default_factory=HistorySettings)
    limits: Limits = field(default_factory=Limits)
    engine: EngineSettings = field(default_factory=EngineSettings)
    tracing: TracingSettings = field(default_factory=TracingSettings)
    # Said at start: keys written where they used to live, read from there all the same.
    warnings: tuple[str, ...] = ()


def load_config(path: Path | str) -> Config:
    """Read, check and resolve the config file; every problem is a ConfigError naming the key."""
    source = Path(path).expanduser().absolute()
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{source}: cannot read the config file: {error.strerror}") from None
    try:
        raw = yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as error:
        raise ConfigError(_yaml_problem(source, error)) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: invalid YAML: {error}") from None
    return _config(Section(raw, "", str(source)), source)


def _yaml_problem(source: Path, error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    where = f"{source}:{mark.line + 1}" if mark else str(source)
    message = f"{where}: invalid YAML: {error.problem or error}"
    # An unclosed bracket is noticed lines later: where it opened is what needs fixing.
    if error.context and error.context_mark and error.context_mark is not mark:
        message += f" ({error.context} that starts on line {error.context_mark.line + 1})"
    return message


def _config(top: Section, source: Path) -> Config:
    # Not resolve(): a Kubernetes ConfigMap mount is a symlink into a folder that is replaced
    # on every update, so files next to the config must be found through the stable path.
    base = source.parent
    raw_expectations = top.string("expectations", None)
    raw_schemas = top.string("schemas", None)
    names = ("kafka", "http", "log", "watch", "state", "history", "limits", "engine", "tracing")
    sections = {name: top.section(name) for name in names}
    alerting = top.section("alerting")
    registry = top.section("registry")
    # Unknown keys first: a misspelt `kafak:` must not be reported as a missing `kafka.topics`.
    top.done()
    if raw_expectations is None:
        raise top.fail("expectations", "is required: an expectation file or folder")
    if raw_schemas is None:
        raise top.fail("schemas", "is required: the folder of event schemas")
    schemas = existing_path(top, "schemas", base, raw_schemas)
    if not schemas.is_dir():
        raise top.fail("schemas", f"{schemas} is not a folder")
    warnings: list[str] = []
    for old, new in (("kafka", "watch"), ("watch", "engine")):
        moved = sections[old].take(MOVED[old])
        warnings += [f"{source}: {old}.{key} has moved to {new}.{key}" for key in moved]
        sections[new] = sections[new].adding(moved)
    return Config(
        expectations=existing_path(top, "expectations", base, raw_expectations),
        schemas=schemas,
        kafka=parse_kafka(sections["kafka"], base),
        http=_http(sections["http"]),
        log=sections["log"].read(LogSettings),
        watch=sections["watch"].read(WatchSettings),
        alerting=parse_alerting(alerting) if top.has("alerting") else None,
        registry=parse_registry(registry, base) if top.has("registry") else None,
        state=_state(sections["state"], base),
        source=source,
        history=sections["history"].read(HistorySettings),
        limits=sections["limits"].read(Limits),
        engine=sections["engine"].read(EngineSettings),
        tracing=_tracing(sections["tracing"]),
        warnings=tuple(warnings),
    )


_LINK_FIELDS = ("trace_id", "span_id", "expectation", "rollout", "step", "start_ms", "end_ms")


def _tracing(section: Section) -> TracingSettings:
    context = section.boolean("context", True)
    trace_url = section.string("trace_url", None)
    resource = section.str_map("resource")
    otlp = (
        parse_otlp(section.section("otlp"), resource, dict(os.environ))
        if section.has("otlp")
        else None
    )
    section.done()
    if trace_url is not None:
        try:
            trace_url.format_map({name: "x" for name in _LINK_FIELDS})
        except (KeyError, ValueError, IndexError) as error:
            allowed = ", ".join("{" + name + "}" for name in _LINK_FIELDS)
            raise section.fail(
                "trace_url", f"{error!s} is not a placeholder: use {allowed}"
            ) from None
    return TracingSettings(context, trace_url, otlp, resource)


# Keys that moved between sections: users' files keep working, with a warning.
MOVED = {"kafka": KAFKA_MOVED, "watch": ("closed_retention",)}


def _http(http: Section) -> HttpSettings:
    listen = http.string("listen", "127.0.0.1:9464")
    peers = http.str_list("peers", ())
    peer_timeout = http.duration("peer_timeout", 2.0)
    auth = _basic_auth(http.section("basic_auth")) if http.has("basic_auth") else None
    operators = http.str_list("operators", ())
    action_secret = http.secret("action_secret")
    http.done()
    if operators and auth is None:
        raise http.fail("operators", "needs http.basic_auth: operators are basic-auth users")
    if any(not name.strip() or ":" in name for name in operators):
        raise http.fail("operators", "must be basic-auth user names (not empty, no colon)")
    for name in operators:
        if auth is not None and name.strip() not in auth.usernames:
            users = ", ".join(auth.usernames)
            raise http.fail("operators", f"{name!r} is no user of http.basic_auth ({users})")
    host, port = _address(http, "listen", listen, "127.0.0.1:9464")
    for peer in peers:
        _address(http, "peers", peer, "sentinel-peers.monitoring.svc:9464")
    return HttpSettings(
        host=host,
        port=port,
        peers=tuple(peer.strip() for peer in peers),
        peer_timeout=peer_timeout,
        basic_auth=auth,
        operators=tuple(name.strip() for name in operators),
        action_secret=action_secret,
    )


def _address(section: Section, key: str, text: str, example: str) -> tuple[str, int]:
    match = _LISTEN.fullmatch(text.strip())
    if match is None or int(match["port"]) > 65535:
        raise section.fail(key, f"must be host:port such as {example}, not {text!r}")
    return match["v6"] or match["host"], int(match["port"])


def _basic_auth(section: Section) -> BasicAuth:
    """`http.basic_auth`: `{username, password(_env)}`, `{users: [{username, password(_env)},
    ...]}`, or both; every user name once."""
    # Unknown keys first (`read` refuses them): a misspelt `pasword:` is not a missing one.
    auth = section.read(BasicAuth)
    if auth.username is not None and auth.password is None:
        raise section.fail("password", "is required (or password_env: VARIABLE_NAME)")
    if auth.password is not None and auth.username is None:
        raise section.fail("username", "is required")
    if section.has("users") and not auth.users:
        raise section.fail("users", "must list at least one {username, password_env}")
    if not auth.everyone:
        raise section.fail("username", "is required (or users: a list of users)")
    first_listed = 0 if auth.username is None else 1  # the single user comes first
    seen: set[str] = set()
    for index, user in enumerate(auth.everyone):
        where = "" if index < first_listed else f"users[{index - first_listed}]."
        if not user.username or ":" in user.username:
            message = "must be a name without a colon (basic auth splits there)"
            raise section.fail(f"{where}username", message)
        if not user.password:
            raise section.fail(f"{where}password", "must not be empty")
        if user.username in seen:
            raise section.fail(f"{where}username", f"{user.username!r} is given twice")
        seen.add(user.username)
    return auth


def _state(state: Section, base: Path) -> StateSettings:
    raw_path = state.string("path", None)
    mode = state.choice("mode", STATE_MODES, "single")
    state.done()
    return StateSettings(path=None if raw_path is None else resolve_path(base, raw_path), mode=mode)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice: YAML keeps only the last one, silently."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, str) and key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
