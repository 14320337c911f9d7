"""The `sentinel run` config file, read and checked once at start (contract sections 7 and 9)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from sentinel.configkit import Section
from sentinel.errors import ConfigError

OffsetReset = Literal["latest", "earliest"]
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
LogLevel = Literal["debug", "info", "warning", "error"]
StateMode = Literal["single", "changelog"]

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
_LISTEN = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})")


@dataclass(frozen=True)
class KafkaSettings:
    """How to reach the bus and consume it; secrets are kept out of `repr` (logs)."""

    topics: tuple[str, ...]
    bootstrap_servers: tuple[str, ...] = ("localhost:9092",)
    group_id: str = "rollout-sentinel"
    auto_offset_reset: OffsetReset = "latest"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_password: str | None = field(default=None, repr=False)
    ssl_check_hostname: bool = True
    client_id: str = "rollout-sentinel"
    lag_threshold: int = 100  # records; a partition further behind holds its rollouts' deadlines
    max_batch: int = 500
    session_timeout: float | None = None  # seconds; None keeps the client's default (10 s)
    fetch_watchdog: float = 60.0  # seconds without a fetch answer before the consumer is stuck
    # Several replicas (state.mode: changelog) need each rollout in one partition. Unless the
    # producers key records by rollout, events go through a repartition topic first.
    input_keyed_by_rollout: bool = False
    repartition_partitions: int = 6
    # Replicas of the topics the sentinel creates (repartition, state changelog).
    replication_factor: int = 3


@dataclass(frozen=True)
class HttpSettings:
    """Where /metrics, /healthz and /readyz are served."""

    host: str = "127.0.0.1"
    port: int = 9464

    @property
    def listen(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class LogSettings:
    """Logs on standard error."""

    level: LogLevel = "info"


@dataclass(frozen=True)
class WatchSettings:
    """The live clock; every value is in seconds."""

    bus_silence: float | None = None  # no record for this long is a `bus_silent` finding
    tick: float = 1.0
    reload_poll: float = 2.0
    closed_retention: float = 86400.0


@dataclass(frozen=True)
class StateSettings:
    """Where rollout state survives a restart."""

    path: Path | None = None  # None keeps state in memory only
    mode: StateMode = "single"


@dataclass(frozen=True)
class Config:
    """Everything `sentinel run` needs, with paths made absolute."""

    expectations: Path
    schemas: Path
    kafka: KafkaSettings
    http: HttpSettings
    log: LogSettings
    watch: WatchSettings
    alerting: Mapping[str, Any] | None  # read by sentinel.alerting.config
    state: StateSettings
    source: Path  # the config file itself


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
    raw_expectations: str | None = top.string("expectations", None)
    raw_schemas: str | None = top.string("schemas", None)
    sections = {name: top.section(name) for name in ("kafka", "http", "log", "watch", "state")}
    alerting = top.section("alerting")
    # Unknown keys first: a misspelt `kafak:` must not be reported as a missing `kafka.topics`.
    top.done()
    if raw_expectations is None:
        raise top.fail("expectations", "is required: an expectation file or folder")
    if raw_schemas is None:
        raise top.fail("schemas", "is required: the folder of event schemas")
    schemas = _existing(top, "schemas", base, raw_schemas)
    if not schemas.is_dir():
        raise top.fail("schemas", f"{schemas} is not a folder")
    return Config(
        expectations=_existing(top, "expectations", base, raw_expectations),
        schemas=schemas,
        kafka=_kafka(sections["kafka"], base),
        http=_http(sections["http"]),
        log=_log(sections["log"]),
        watch=_watch(sections["watch"]),
        # Only its shape is checked here: sentinel.alerting.config reads the keys inside.
        alerting=alerting.raw if top.has("alerting") else None,
        state=_state(sections["state"], base),
        source=source,
    )


def _kafka(kafka: Section, base: Path) -> KafkaSettings:
    servers = tuple(
        server.strip()
        for entry in kafka.str_list("bootstrap_servers", ("localhost:9092",))
        for server in entry.split(",")
        if server.strip()
    )
    if not servers:
        raise kafka.fail("bootstrap_servers", "must name at least one host:port")
    topics: tuple[str, ...] = kafka.str_list("topics", ())
    for topic in topics:
        if not _TOPIC.fullmatch(topic):
            raise kafka.fail(
                "topics", f"{topic!r} is not a Kafka topic name (letters, digits, '.', '_', '-')"
            )
    protocol: SecurityProtocol = kafka.choice("security_protocol", SECURITY_PROTOCOLS, "PLAINTEXT")
    settings = KafkaSettings(
        topics=topics,
        bootstrap_servers=servers,
        group_id=kafka.string("group_id", "rollout-sentinel"),
        auto_offset_reset=kafka.choice("auto_offset_reset", ("latest", "earliest"), "latest"),
        security_protocol=protocol,
        sasl_mechanism=kafka.choice("sasl_mechanism", SASL_MECHANISMS, None),
        sasl_username=kafka.secret("sasl_username"),
        sasl_password=kafka.secret("sasl_password"),
        ssl_cafile=_file(kafka, "ssl_cafile", base),
        ssl_certfile=_file(kafka, "ssl_certfile", base),
        ssl_keyfile=_file(kafka, "ssl_keyfile", base),
        ssl_password=kafka.secret("ssl_password"),
        ssl_check_hostname=kafka.boolean("ssl_check_hostname", True),
        client_id=kafka.string("client_id", "rollout-sentinel"),
        lag_threshold=kafka.integer("lag_threshold", 100),
        max_batch=kafka.integer("max_batch", 500, minimum=1),
        session_timeout=kafka.duration("session_timeout", None),
        fetch_watchdog=kafka.duration("fetch_watchdog", 60.0),
        input_keyed_by_rollout=kafka.boolean("input_keyed_by_rollout", False),
        repartition_partitions=kafka.integer("repartition_partitions", 6, minimum=1),
        replication_factor=kafka.integer("replication_factor", 3, minimum=1),
    )
    kafka.done()
    if not topics:
        raise kafka.fail("topics", "is required: the list of topics to watch")
    _check_security(kafka, settings)
    return settings


def _check_security(kafka: Section, settings: KafkaSettings) -> None:
    protocol = settings.security_protocol
    if protocol.startswith("SASL_"):
        for key in ("sasl_mechanism", "sasl_username", "sasl_password"):
            if getattr(settings, key) is None:
                hint = "" if key == "sasl_mechanism" else f" (or {key}_env: VARIABLE_NAME)"
                raise kafka.fail(key, f"is required with security_protocol {protocol}{hint}")
    else:
        for key in ("sasl_mechanism", "sasl_username", "sasl_password"):
            if getattr(settings, key) is not None:
                raise kafka.fail(
                    key, f"needs security_protocol SASL_PLAINTEXT or SASL_SSL, not {protocol}"
                )
    if not protocol.endswith("SSL"):
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_password"):
            if getattr(settings, key) is not None:
                raise kafka.fail(key, f"needs security_protocol SSL or SASL_SSL, not {protocol}")
    if settings.ssl_keyfile is not None and settings.ssl_certfile is None:
        raise kafka.fail("ssl_keyfile", "needs ssl_certfile (the client certificate)")
    if settings.ssl_password is not None and settings.ssl_certfile is None:
        raise kafka.fail("ssl_password", "needs ssl_certfile and the encrypted ssl_keyfile")


def _http(http: Section) -> HttpSettings:
    listen: str = http.string("listen", "127.0.0.1:9464")
    http.done()
    match = _LISTEN.fullmatch(listen.strip())
    if match is None or int(match["port"]) > 65535:
        raise http.fail("listen", f"must be host:port such as 127.0.0.1:9464, not {listen!r}")
    return HttpSettings(host=match["v6"] or match["host"], port=int(match["port"]))


def _log(log: Section) -> LogSettings:
    level: LogLevel = log.choice("level", ("debug", "info", "warning", "error"), "info")
    log.done()
    return LogSettings(level=level)


def _watch(watch: Section) -> WatchSettings:
    settings = WatchSettings(
        bus_silence=watch.duration("bus_silence", None),
        tick=watch.duration("tick", 1.0),
        reload_poll=watch.duration("reload_poll", 2.0),
        closed_retention=watch.duration("closed_retention", 86400.0),
    )
    watch.done()
    return settings


def _state(state: Section, base: Path) -> StateSettings:
    raw_path: str | None = state.string("path", None)
    mode: StateMode = state.choice("mode", ("single", "changelog"), "single")
    state.done()
    return StateSettings(path=None if raw_path is None else _resolve(base, raw_path), mode=mode)


def _file(section: Section, key: str, base: Path) -> Path | None:
    raw: str | None = section.string(key, None)
    if raw is None:
        return None
    path = _existing(section, key, base, raw)
    if not path.is_file():
        raise section.fail(key, f"{path} is not a file")
    return path


def _existing(section: Section, key: str, base: Path, raw: str) -> Path:
    path = _resolve(base, raw)
    if not path.exists():
        raise section.fail(key, f"{path} does not exist")
    return path


def _resolve(base: Path, raw: str) -> Path:
    return base / Path(raw).expanduser()


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
