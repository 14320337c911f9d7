"""The `sentinel run` config file: defaults, paths, secrets, and errors naming the key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sentinel.alerting.sinks.slack import SlackSettings
from sentinel.config import (
    Config,
    EngineSettings,
    HttpSettings,
    KafkaSettings,
    LogSettings,
    StateSettings,
    WatchSettings,
    load_config,
)
from sentinel.core.engine.limits import Limits
from sentinel.core.errors import ConfigError

MINIMAL = """\
expectations: expectations/
schemas: schemas/
kafka:
  topics: [rollout.events]
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "expectations").mkdir()
    (tmp_path / "schemas").mkdir()
    return tmp_path


def write(folder: Path, text: str, name: str = "sentinel.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def with_kafka(extra: str) -> str:
    """MINIMAL with more lines under `kafka:`."""
    return MINIMAL + textwrap.indent(textwrap.dedent(extra), "  ")


def refused(folder: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(folder, text))
    return str(caught.value)


def test_a_minimal_file_gets_every_default(folder: Path) -> None:
    path = write(folder, MINIMAL)

    config = load_config(path)

    assert config == Config(
        expectations=folder / "expectations",
        schemas=folder / "schemas",
        kafka=KafkaSettings(topics=("rollout.events",)),
        http=HttpSettings(),
        log=LogSettings(),
        watch=WatchSettings(),
        alerting=None,
        registry=None,
        state=StateSettings(),
        source=path,
    )
    assert config.kafka.bootstrap_servers == ("localhost:9092",)
    assert config.kafka.group_id == "rollout-sentinel"
    assert config.kafka.auto_offset_reset == "latest"
    assert config.kafka.security_protocol == "PLAINTEXT"
    assert config.kafka.session_timeout is None
    assert (config.http.host, config.http.port, config.http.listen) == (
        "127.0.0.1",
        9464,
        "127.0.0.1:9464",
    )
    assert config.log.level == "info"
    assert config.watch == WatchSettings(
        max_batch=2000, lag_threshold=100, bus_silence=None, tick=1.0, fetch_watchdog=60.0,
        reload_poll=2.0,
    )  # fmt: skip
    assert config.engine == EngineSettings(closed_retention=86400.0)
    assert config.state == StateSettings(path=None, mode="single")


def test_every_key_is_read_with_its_type(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    (folder / "ca.pem").write_text("ca")
    config = load_config(
        write(
            folder,
            """\
            expectations: expectations/
            schemas: schemas/
            kafka:
              bootstrap_servers: [kafka-1:9093, kafka-2:9093]
              topics: [rollout.events, deploys]
              group_id: sentinel-prod
              auto_offset_reset: earliest
              security_protocol: SASL_SSL
              sasl_mechanism: SCRAM-SHA-512
              sasl_username: sentinel
              sasl_password: s3cret
              ssl_cafile: ca.pem
              ssl_check_hostname: false
              client_id: sentinel-1
              session_timeout: 30s
            http:
              listen: 0.0.0.0:9000
            log:
              level: debug
            watch:
              max_batch: 50
              lag_threshold: 0
              bus_silence: 15m
              tick: 500ms
              fetch_watchdog: 2m
              reload_poll: PT10S
            engine:
              closed_retention: 2d
            limits:
              open_rollouts: 10
            alerting:
              slack:
                token_env: SLACK_BOT_TOKEN
                default_channel: "#rollouts"
            state:
              path: state/sentinel.db
              mode: changelog
            """,
        )
    )

    kafka = config.kafka
    assert kafka.bootstrap_servers == ("kafka-1:9093", "kafka-2:9093")
    assert kafka.topics == ("rollout.events", "deploys")
    assert (kafka.group_id, kafka.auto_offset_reset, kafka.client_id) == (
        "sentinel-prod",
        "earliest",
        "sentinel-1",
    )
    assert (kafka.security_protocol, kafka.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (kafka.sasl_username, kafka.sasl_password) == ("sentinel", "s3cret")
    assert kafka.ssl_cafile == folder / "ca.pem"
    assert kafka.ssl_check_hostname is False
    assert kafka.session_timeout == 30.0
    assert (config.http.host, config.http.port) == ("0.0.0.0", 9000)
    assert config.log.level == "debug"
    assert config.watch == WatchSettings(
        max_batch=50, lag_threshold=0, bus_silence=900.0, tick=0.5, fetch_watchdog=120.0,
        reload_poll=10.0,
    )  # fmt: skip
    assert config.engine == EngineSettings(closed_retention=172800.0)
    assert config.limits == Limits(open_rollouts=10)
    # Parsed with the rest at start: a mistake in it stops `sentinel run` before it reads.
    assert config.alerting is not None
    [slack] = config.alerting.sinks
    assert isinstance(slack, SlackSettings)
    assert (slack.token, slack.default_channel) == ("xoxb-1", "#rollouts")
    assert config.state == StateSettings(path=folder / "state" / "sentinel.db", mode="changelog")


def test_paths_resolve_against_the_config_folder_not_the_working_directory(
    folder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    (folder / "conf").mkdir()
    path = write(
        folder / "conf",
        """\
        expectations: ../expectations
        schemas: ../schemas
        kafka:
          topics: [t]
        state:
          path: sentinel.db
        """,
    )
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))

    config = load_config(path)

    assert config.expectations.resolve() == (folder / "expectations").resolve()
    assert config.schemas.resolve() == (folder / "schemas").resolve()
    assert config.state.path == folder / "conf" / "sentinel.db"
    assert config.source == path


def test_a_relative_config_path_is_made_absolute(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(folder, MINIMAL)
    monkeypatch.chdir(folder)

    config = load_config("sentinel.yaml")

    assert config.source == folder / "sentinel.yaml"
    assert config.expectations == folder / "expectations"


def test_absolute_paths_are_kept(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("rules")
    (elsewhere / "user-service.yaml").write_text("")
    text = MINIMAL.replace("expectations/", str(elsewhere / "user-service.yaml"))

    config = load_config(write(folder, text))

    assert config.expectations == elsewhere / "user-service.yaml"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (MINIMAL + "expectation: x\n", "expectation: unknown key (did you mean 'expectations'?)"),
        (with_kafka("bootstrap_server: k:9092\n"), "kafka.bootstrap_server: unknown key"),
        (MINIMAL + "http:\n  listen_on: :9000\n", "http.listen_on: unknown key"),
        (MINIMAL + "log:\n  levle: debug\n", "log.levle: unknown key (did you mean 'level'?)"),
        (MINIMAL + "watch:\n  bus_silent: 5m\n", "watch.bus_silent: unknown key"),
        (MINIMAL + "state:\n  file: x.db\n", "state.file: unknown key"),
    ],
)
def test_an_unknown_key_is_refused_by_its_full_path(folder: Path, text: str, named: str) -> None:
    message = refused(folder, text)

    assert message.startswith(f"{folder / 'sentinel.yaml'}: ")
    assert named in message


def test_a_misspelt_section_is_reported_as_unknown_not_as_missing_topics(folder: Path) -> None:
    text = MINIMAL.replace("kafka:", "kafak:")

    assert "kafak: unknown key (did you mean 'kafka'?)" in refused(folder, text)


def test_a_misspelt_key_inside_kafka_is_reported_before_the_missing_topics(folder: Path) -> None:
    text = MINIMAL.replace("topics:", "topcis:")

    assert "kafka.topcis: unknown key (did you mean 'topics'?)" in refused(folder, text)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("schemas: schemas/\nkafka:\n  topics: [t]\n", "expectations: is required"),
        ("expectations: expectations/\nkafka:\n  topics: [t]\n", "schemas: is required"),
        ("expectations: expectations/\nschemas: schemas/\n", "kafka.topics: is required"),
        (MINIMAL.replace("[rollout.events]", "[]"), "kafka.topics: is required"),
    ],
)
def test_a_missing_required_key_is_named(folder: Path, text: str, named: str) -> None:
    assert named in refused(folder, text)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (MINIMAL.replace("expectations/", "rules/"), "expectations: {folder}/rules does not exist"),
        (MINIMAL.replace("schemas/", "nope/"), "schemas: {folder}/nope does not exist"),
        (with_kafka("ssl_cafile: ca.pem\nsecurity_protocol: SSL\n"), "kafka.ssl_cafile: "),
    ],
)
def test_a_path_that_does_not_exist_is_named_with_its_key(
    folder: Path, text: str, named: str
) -> None:
    message = refused(folder, text)

    assert named.format(folder=folder) in message
    assert "does not exist" in message


def test_schemas_must_be_a_folder(folder: Path) -> None:
    (folder / "one.json").write_text("{}")

    message = refused(folder, MINIMAL.replace("schemas/", "one.json"))

    assert f"schemas: {folder / 'one.json'} is not a folder" in message


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("group_id: 7\n", "kafka.group_id: must be a string, not int 7"),
        ("auto_offset_reset: newest\n", "kafka.auto_offset_reset: must be one of latest, earliest"),
        ("security_protocol: TLS\n", "kafka.security_protocol: must be one of PLAINTEXT, SSL"),
        ("session_timeout: soon\n", "kafka.session_timeout: 'soon' is not a duration"),
        ("fetch_max_wait: 2s\n", "kafka.fetch_max_wait: must be at most 1s: a longer silence"),
        ("bootstrap_servers: ' , '\n", "kafka.bootstrap_servers: must name at least one"),
        ("topics: [rollout events]\n", "kafka.topics: 'rollout events' is not a Kafka topic"),
    ],
)
def test_a_wrong_kafka_value_names_the_key_and_what_is_expected(
    folder: Path, extra: str, named: str
) -> None:
    text = MINIMAL.replace("  topics: [rollout.events]\n", "") + textwrap.indent(extra, "  ")
    if "topics:" not in extra:
        text += "  topics: [rollout.events]\n"

    assert named in refused(folder, text)


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ("http:\n  listen: 9464\n", "http.listen: must be a string"),
        ("http:\n  listen: localhost\n", "http.listen: must be host:port"),
        ("http:\n  listen: 127.0.0.1:99999\n", "http.listen: must be host:port"),
        ("log:\n  level: verbose\n", "log.level: must be one of debug, info, warning, error"),
        ("watch:\n  tick: 0s\n", "watch.tick: '0s' is not a positive duration"),
        ("watch:\n  lag_threshold: -1\n", "watch.lag_threshold: must be a whole number of at"),
        ("watch:\n  max_batch: 0\n", "watch.max_batch: must be a whole number of at least 1"),
        ("limits:\n  open_rollouts: 0\n", "limits.open_rollouts: must be a whole number of at"),
        ("limits:\n  open_rollout: 5\n", "limits.open_rollout: unknown key (did you mean"),
        ("watch:\n  bus_silence: 5 minutes\n", "watch.bus_silence: '5 minutes' is not a duration"),
        ("state:\n  mode: replicated\n", "state.mode: must be one of single, changelog"),
        ("alerting: [slack]\n", "alerting must be a mapping of keys"),
    ],
)
def test_a_wrong_value_in_other_sections_names_the_key(
    folder: Path, section: str, named: str
) -> None:
    assert named in refused(folder, MINIMAL + section)


def test_keys_that_moved_keep_working_from_where_they_were_with_a_warning(folder: Path) -> None:
    """The loop's knobs were under `kafka:`, the engine's retention under `watch:`."""
    text = with_kafka("max_batch: 50\nlag_threshold: 0\nfetch_watchdog: 2m\n")
    config = load_config(write(folder, text + "watch:\n  closed_retention: 2d\n"))
    assert (config.watch.max_batch, config.watch.lag_threshold) == (50, 0)
    assert config.watch.fetch_watchdog == 120.0
    assert config.engine.closed_retention == 172800.0
    assert [warning.partition(": ")[2] for warning in config.warnings] == [
        "kafka.lag_threshold has moved to watch.lag_threshold",
        "kafka.max_batch has moved to watch.max_batch",
        "kafka.fetch_watchdog has moved to watch.fetch_watchdog",
        "watch.closed_retention has moved to engine.closed_retention",
    ]
    where_it_is_now = load_config(write(folder, text + "watch:\n  max_batch: 7\n"))
    assert where_it_is_now.watch.max_batch == 7, "the new place wins"


def test_bootstrap_servers_may_be_one_comma_separated_string(folder: Path) -> None:
    config = load_config(write(folder, with_kafka("bootstrap_servers: a:9092, b:9092\n")))

    assert config.kafka.bootstrap_servers == ("a:9092", "b:9092")


def test_an_ipv6_listen_address_is_understood(folder: Path) -> None:
    config = load_config(write(folder, MINIMAL + "http:\n  listen: '[::1]:9464'\n"))

    assert (config.http.host, config.http.port, config.http.listen) == ("::1", 9464, "[::1]:9464")


def test_an_empty_alerting_section_configures_no_sink(folder: Path) -> None:
    alerting = load_config(write(folder, MINIMAL + "alerting: {}\n")).alerting
    assert alerting is not None
    assert alerting.sink_names == ()


# Secrets


SASL = """\
security_protocol: SASL_PLAINTEXT
sasl_mechanism: SCRAM-SHA-256
"""


def test_secrets_come_from_the_environment_when_named_there(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_USER", "sentinel")
    monkeypatch.setenv("KAFKA_PASSWORD", "from-env")
    text = with_kafka(SASL + "sasl_username_env: KAFKA_USER\nsasl_password_env: KAFKA_PASSWORD\n")

    kafka = load_config(write(folder, text)).kafka

    assert (kafka.sasl_username, kafka.sasl_password) == ("sentinel", "from-env")
    assert "from-env" not in repr(kafka)


def test_an_unset_secret_variable_names_the_key_and_the_variable(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KAFKA_PASSWORD", raising=False)
    text = with_kafka(SASL + "sasl_username: s\nsasl_password_env: KAFKA_PASSWORD\n")

    message = refused(folder, text)

    assert "kafka.sasl_password_env: environment variable KAFKA_PASSWORD is not set" in message


def test_a_secret_given_both_inline_and_by_variable_is_refused(folder: Path) -> None:
    text = with_kafka(SASL + "sasl_username: s\nsasl_password: p\nsasl_password_env: P\n")

    assert "kafka.sasl_password: give either sasl_password or sasl_password_env" in refused(
        folder, text
    )


@pytest.mark.parametrize(
    ("lines", "named"),
    [
        ("sasl_username: s\nsasl_password: p\n", "kafka.sasl_mechanism: is required with"),
        ("sasl_mechanism: PLAIN\nsasl_password: p\n", "kafka.sasl_username: is required with"),
        ("sasl_mechanism: PLAIN\nsasl_username: s\n", "kafka.sasl_password: is required with"),
    ],
)
def test_sasl_needs_a_mechanism_a_username_and_a_password(
    folder: Path, lines: str, named: str
) -> None:
    message = refused(folder, with_kafka("security_protocol: SASL_SSL\n" + lines))

    assert named in message
    assert "security_protocol SASL_SSL" in message


def test_the_sasl_mechanism_must_be_one_kafka_knows(folder: Path) -> None:
    text = with_kafka("security_protocol: SASL_SSL\nsasl_mechanism: SCRAM-SHA-1\n")

    assert "kafka.sasl_mechanism: must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512" in refused(
        folder, text
    )


@pytest.mark.parametrize(
    ("lines", "named"),
    [
        ("sasl_username: s\n", "kafka.sasl_username: needs security_protocol SASL_PLAINTEXT"),
        ("ssl_cafile: ca.pem\n", "kafka.ssl_cafile: needs security_protocol SSL or SASL_SSL"),
    ],
)
def test_security_settings_without_their_protocol_are_refused_not_ignored(
    folder: Path, lines: str, named: str
) -> None:
    (folder / "ca.pem").write_text("ca")

    message = refused(folder, with_kafka(lines))

    assert named in message
    assert "not PLAINTEXT" in message


def test_a_client_key_needs_its_certificate(folder: Path) -> None:
    (folder / "client.key").write_text("key")
    text = with_kafka("security_protocol: SSL\nssl_keyfile: client.key\n")

    assert "kafka.ssl_keyfile: needs ssl_certfile" in refused(folder, text)


def test_ssl_files_resolve_against_the_config_folder(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ca.pem", "client.pem", "client.key"):
        (folder / name).write_text(name)
    monkeypatch.setenv("KEY_PASSWORD", "hunter2")
    text = with_kafka(
        "security_protocol: SSL\nssl_cafile: ca.pem\nssl_certfile: client.pem\n"
        "ssl_keyfile: client.key\nssl_password_env: KEY_PASSWORD\n"
    )

    kafka = load_config(write(folder, text)).kafka

    assert (kafka.ssl_cafile, kafka.ssl_certfile, kafka.ssl_keyfile) == (
        folder / "ca.pem",
        folder / "client.pem",
        folder / "client.key",
    )
    assert kafka.ssl_password == "hunter2"
    assert "hunter2" not in repr(kafka)


# YAML itself


def test_a_yaml_syntax_error_names_the_file_and_line(folder: Path) -> None:
    text = with_kafka("group_id: sentinel: prod\n")

    assert f"{folder / 'sentinel.yaml'}:5: invalid YAML: mapping values are not allowed" in (
        refused(folder, text)
    )


def test_an_unclosed_bracket_also_names_the_line_where_it_opened(folder: Path) -> None:
    message = refused(folder, MINIMAL + "http:\n  listen: [127.0.0.1:9464\n")

    assert message == (
        f"{folder / 'sentinel.yaml'}:7: invalid YAML: expected ',' or ']', but got "
        "'<stream end>' (while parsing a flow sequence that starts on line 6)"
    )


def test_a_key_given_twice_is_refused_with_its_line(folder: Path) -> None:
    text = MINIMAL + "kafka:\n  topics: [other]\n"

    assert f"{folder / 'sentinel.yaml'}:5: invalid YAML: key 'kafka' is given twice" in refused(
        folder, text
    )


def test_yes_and_no_are_booleans_in_yaml_so_a_string_key_says_to_quote_them(
    folder: Path,
) -> None:
    message = refused(folder, with_kafka("group_id: no\n"))

    assert "kafka.group_id: must be a string, not the boolean false (quote it" in message


def test_a_quoted_boolean_is_not_taken_for_a_boolean(folder: Path) -> None:
    message = refused(folder, with_kafka('ssl_check_hostname: "false"\n'))

    assert "kafka.ssl_check_hostname: must be true or false, not str 'false'" in message


def test_a_bare_on_as_a_key_is_explained(folder: Path) -> None:
    message = refused(folder, MINIMAL + "watch:\n  on: 5m\n")

    assert "watch.True: keys must be names; YAML reads bare on/off/yes/no as booleans" in message


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("", "expectations: is required: an expectation file or folder"),
        ("# only a comment\n", "expectations: is required: an expectation file or folder"),
        ("- a list\n", "the file must be a mapping of keys"),
        ("just text\n", "the file must be a mapping of keys"),
    ],
)
def test_a_file_without_a_mapping_is_refused(folder: Path, text: str, named: str) -> None:
    assert refused(folder, text) == f"{folder / 'sentinel.yaml'}: {named}"


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file: No such file"):
        load_config(tmp_path / "nope.yaml")
