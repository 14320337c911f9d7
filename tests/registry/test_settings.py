"""The `registry:` config section: defaults, secrets from the environment, errors naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sentinel.configkit import Section
from sentinel.core.errors import ConfigError
from sentinel.registry.settings import RegistrySettings, parse_registry, settings_for_url

from .tls import self_signed

SOURCE = "/etc/sentinel.yaml"


def parse(text: str, base: Path = Path("/etc")) -> RegistrySettings:
    return parse_registry(Section(yaml.safe_load(text), "registry", SOURCE), base)


def refused(text: str, base: Path = Path("/etc")) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text, base)
    return str(caught.value)


def test_a_url_alone_gets_every_default() -> None:
    assert parse("url: http://schema-registry:8081/") == RegistrySettings(
        url="http://schema-registry:8081",
        api="confluent",
        timeout=5.0,
        subject="{type}",
        latest_ttl=60.0,
        retries=2,
        backoff=0.2,
        backoff_max=5.0,
        cache_size=1000,
        not_found_ttl=10.0,
    )


def test_every_key_of_the_contract_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REGISTRY_PASSWORD", "pw")
    cert, _ = self_signed(tmp_path)
    settings = parse(
        f"""
        url: https://registry.internal/apis/ccompat/v7
        api: confluent
        username: sentinel
        password_env: REGISTRY_PASSWORD
        ca_file: {cert.name}
        timeout: 2s
        subject: "{{topic}}-{{type}}"
        latest_ttl: 5m
        """,
        tmp_path,
    )
    assert (settings.username, settings.password, settings.ca_file) == ("sentinel", "pw", cert)
    assert (settings.timeout, settings.latest_ttl) == (2.0, 300.0)
    assert settings.subject_for("Deployed", "rollout.events") == "rollout.events-Deployed"
    assert "pw" not in repr(settings)


def test_the_apicurio_api_is_recognised_from_its_url() -> None:
    settings = parse("url: http://apicurio:8080/apis/registry/v3")
    assert settings.api == "apicurio-v3"
    assert settings_for_url("http://apicurio:8080/apis/registry/v3/").api == "apicurio-v3"


def test_a_token_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_TOKEN", "t0k")
    assert parse("{url: 'http://r:8081', token_env: REGISTRY_TOKEN}").token == "t0k"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{}", "registry.url: is required"),
        (
            "{url: 'http://r:8081', timout: 2s}",
            "registry.timout: unknown key (did you mean 'timeout'?)",
        ),
        ("{url: 'ftp://r'}", "registry.url: must be an http:// or https:// URL, not 'ftp://r'"),
        (
            "{url: 'http://u:p@r:8081'}",
            "registry.url: must not hold credentials: use username and password_env (or token_env)",
        ),
        (
            "{url: 'http://r:8081', api: glue}",
            "registry.api: must be one of confluent, apicurio-v3, not 'glue'",
        ),
        (
            "{url: 'http://r:8081', api: apicurio-v3}",
            "registry.url: must end in /apis/registry/v3 with api apicurio-v3, not 'http://r:8081'",
        ),
        (
            "{url: 'http://r/apis/registry/v3', api: confluent}",
            "registry.api: is confluent but the url ends in /apis/registry/v3: set api: "
            "apicurio-v3, or use Apicurio's Confluent-compatible API at /apis/ccompat/v7",
        ),
        (
            "{url: 'http://r:8081', username: me}",
            "registry.password: is required with username (or password_env: VARIABLE)",
        ),
        ("{url: 'http://r:8081', password: pw}", "registry.username: is required with a password"),
        (
            "{url: 'http://r:8081', username: me, password: pw, token: t}",
            "registry.token: give either username and password (basic auth) or a token "
            "(bearer), not both",
        ),
        (
            "{url: 'http://r:8081', password_env: NOPE_NOT_SET}",
            "registry.password_env: environment variable NOPE_NOT_SET is not set",
        ),
        ("{url: 'http://r:8081', timeout: soon}", "registry.timeout: 'soon' is not a duration"),
        (
            "{url: 'http://r:8081', subject: '{type}-{env}'}",
            "registry.subject: unknown placeholder {env}: use {type} and {topic}",
        ),
        ("{url: 'http://r:8081', subject: '{type'}", "registry.subject: has an unmatched { or }"),
        (
            "{url: 'http://r:8081', cache_size: 0}",
            "registry.cache_size: must be a whole number of at least 1, not 0",
        ),
        (
            "{url: 'http://r:8081', ca_file: /nowhere/ca.pem}",
            "registry.ca_file: /nowhere/ca.pem does not exist",
        ),
    ],
)
def test_a_wrong_setting_is_refused_with_the_key_named(text: str, message: str) -> None:
    assert refused(text).startswith(f"{SOURCE}: {message}")


def test_a_ca_file_that_is_not_a_certificate_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate")
    message = refused(f"{{url: 'https://r:8081', ca_file: {junk}}}")
    assert message.startswith(f"{SOURCE}: registry.ca_file: {junk} is not a PEM CA certificate")


def test_the_section_must_be_a_mapping() -> None:
    raw: Any = ["http://r:8081"]
    with pytest.raises(ConfigError, match="registry must be a mapping of keys"):
        parse_registry(Section(raw, "registry", SOURCE), Path("/etc"))


def test_the_example_in_the_docs_is_a_valid_registry_section(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    docs = (Path(__file__).parents[2] / "docs" / "registry.md").read_text()
    example = docs.split("## Configuration", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    section = yaml.safe_load(example)["registry"]
    cert, _ = self_signed(tmp_path)
    section["ca_file"] = str(cert)  # the documented path does not exist here
    monkeypatch.setenv("REGISTRY_PASSWORD", "pw")
    settings = parse_registry(Section(section, "registry", SOURCE), tmp_path)
    defaults = RegistrySettings(url=settings.url)
    for key in ("timeout", "subject", "latest_ttl", "retries", "backoff", "backoff_max"):
        assert getattr(settings, key) == getattr(defaults, key), key
    assert (settings.cache_size, settings.not_found_ttl) == (1000, 10.0)
