"""The Helm chart: lints, renders what a cluster accepts, and renders what the sentinel reads."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from registry.tls import self_signed

from sentinel import __version__
from sentinel.alerting.sinks.slack import SlackSettings
from sentinel.config import load_config
from sentinel.runtime.rule_reload import load_rules

from .tools import (
    CHART,
    DASHBOARD,
    NAMESPACE,
    RELEASE,
    REPO,
    RULES,
    kinds,
    kubernetes_validate_env,
    lint,
    one,
    promtool,
    python,
    render,
    render_error,
    render_text,
    run,
    workload,
)

MINIMAL = "minimal.yaml"
VALUES_FILES = [
    MINIMAL,
    "single.yaml",
    "replicas.yaml",
    "monitoring.yaml",
    "secrets.yaml",
    "tracing.yaml",
]
# Every way to render the chart that the tests know of (files under tests/deploy/values).
SCENARIOS: list[tuple[str, ...]] = [(name,) for name in VALUES_FILES]
# What a team's expectation ConfigMap holds, for the ConfigMaps the values files name.
TEAM_EXPECTATION = """\
apiVersion: sentinel/v1
kind: Expectation
metadata:
  name: payments-v5
spec:
  correlate: data.rollout_id
  steps:
    - event: PaymentsV5_Ready
"""
STANDARD_LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
}
MONITORING_KINDS = {"ServiceMonitor", "PrometheusRule"}


def pod_spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = workload(docs)["spec"]["template"]["spec"]
    return spec


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (only,) = pod_spec(docs)["containers"]
    return dict(only)


def rendered_config(docs: list[dict[str, Any]]) -> dict[str, Any]:
    config_map = next(doc for doc in docs if doc["metadata"]["name"].endswith("-config"))
    config: dict[str, Any] = yaml.safe_load(config_map["data"]["config.yaml"])
    return config


def checksum(docs: list[dict[str, Any]]) -> str:
    value: str = workload(docs)["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    return value


def scenario_id(values: tuple[str, ...]) -> str:
    return values[0].removesuffix(".yaml")


# Lint and the schema.


@pytest.mark.parametrize("values", SCENARIOS, ids=scenario_id)
def test_the_chart_lints_strictly(values: tuple[str, ...]) -> None:
    result = lint(*values)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_a_typo_in_values_is_rejected_by_the_schema() -> None:
    error = render_error("typo.yaml")
    assert "persistance" in error
    result = lint("typo.yaml")
    assert result.returncode != 0
    assert "persistance" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("serviceMonitor.enable=true", "enable"),
        ("image.tags=1.0", "tags"),
        ("persistence.size=lots", "size"),
        ("secretEnv.SLACK_BOT_TOKEN.secretName=slack", "secretName"),
        ("config.state.mode=sharded", "mode"),
        ("replicaCount=0", "replicaCount"),
    ],
)
def test_a_wrong_value_anywhere_in_the_charts_own_keys_is_rejected(
    setting: str, named: str
) -> None:
    assert named in render_error(MINIMAL, sets=(setting,))


def test_unknown_keys_under_config_reach_the_sentinel_unchanged() -> None:
    docs = render(MINIMAL, sets=("config.watch.bus_silence=15m", "config.engine.x=200"))
    config = rendered_config(docs)
    assert config["watch"] == {"bus_silence": "15m"}
    assert config["engine"]["x"] == 200


# What the workload is.


def test_without_any_expectation_the_chart_refuses_to_render() -> None:
    assert "expectations.existingConfigMaps" in render_error()


def test_by_default_one_pod_of_a_statefulset_keeps_its_state_on_a_volume() -> None:
    docs = render(MINIMAL)
    statefulset = one(docs, "StatefulSet")
    assert "Deployment" not in kinds(docs)
    assert statefulset["spec"]["replicas"] == 1
    assert statefulset["spec"]["serviceName"] == one(docs, "Service")["metadata"]["name"]
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "state"
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    mounts = {mount["name"]: mount["mountPath"] for mount in container(docs)["volumeMounts"]}
    assert mounts["state"] == "/var/lib/sentinel"
    assert "state" not in {volume["name"] for volume in pod_spec(docs)["volumes"]}
    assert rendered_config(docs)["state"] == {
        "mode": "single",
        "path": "/var/lib/sentinel/state.db",
    }


@pytest.mark.parametrize("values", [(MINIMAL,), ("replicas.yaml",)], ids=scenario_id)
def test_each_pod_is_a_static_group_member_named_after_itself(values: tuple[str, ...]) -> None:
    """KIP-345: a container restarted after a crash takes its partitions back at once."""
    docs = render(*values)
    assert rendered_config(docs)["kafka"]["group_instance_id_env"] == "SENTINEL_POD_NAME"
    env = {item["name"]: item for item in container(docs)["env"]}
    assert env["SENTINEL_POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_a_group_instance_id_given_in_the_config_is_kept() -> None:
    docs = render(MINIMAL, sets=("config.kafka.group_instance_id=sentinel-a",))
    kafka = rendered_config(docs)["kafka"]
    assert kafka["group_instance_id"] == "sentinel-a" and "group_instance_id_env" not in kafka


def test_the_volume_takes_its_size_and_storage_class_from_values() -> None:
    (claim,) = one(render("single.yaml"), "StatefulSet")["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "fast-ssd"
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"


def test_without_persistence_the_store_lives_in_an_empty_dir() -> None:
    docs = render(MINIMAL, sets=("persistence.enabled=false",))
    assert "volumeClaimTemplates" not in one(docs, "StatefulSet")["spec"]
    volumes = {volume["name"]: volume for volume in pod_spec(docs)["volumes"]}
    assert volumes["state"] == {"name": "state", "emptyDir": {}}


def test_changelog_mode_runs_a_deployment_with_the_replicas_asked_for() -> None:
    docs = render("replicas.yaml")
    deployment = one(docs, "Deployment")
    assert "StatefulSet" not in kinds(docs)
    assert deployment["spec"]["replicas"] == 3
    # The local snapshot and the alert outbox on the pod's emptyDir: a restarted container
    # keeps both; a pod on another node restores from the changelog.
    assert rendered_config(docs)["state"] == {
        "mode": "changelog",
        "path": "/var/lib/sentinel/state.db",
    }
    volumes = {volume["name"]: volume for volume in pod_spec(docs)["volumes"]}
    assert volumes["state"] == {"name": "state", "emptyDir": {}}
    mounts = {mount["name"]: mount for mount in pod_spec(docs)["containers"][0]["volumeMounts"]}
    assert mounts["state"]["mountPath"] == "/var/lib/sentinel"


def test_changelog_mode_keeps_a_local_snapshot_path_of_the_user_s_own() -> None:
    docs = render("replicas.yaml", sets=("config.state.path=/data/snapshot.db",))
    assert rendered_config(docs)["state"]["path"] == "/data/snapshot.db"
    assert pod_spec(docs)["topologySpreadConstraints"][0]["maxSkew"] == 1


def test_several_replicas_sharing_one_sqlite_file_are_refused() -> None:
    error = render_error(MINIMAL, sets=("replicaCount=2",))
    assert "config.state.mode: changelog" in error


@pytest.mark.parametrize(
    ("setting", "advice"),
    [
        ("config.expectations=/data", "expectations.files or expectations.existingConfigMaps"),
        ("config.schemas=/data", "schemas.files or schemas.existingConfigMaps"),
        ("config.http.listen=127.0.0.1:9000", "service.port"),
        ("config.state.path=/data/state.db", "set by the chart in single mode"),
    ],
)
def test_config_keys_the_chart_sets_itself_are_refused_with_advice(
    setting: str, advice: str
) -> None:
    assert advice in render_error(MINIMAL, sets=(setting,))


# The pod.


@pytest.mark.parametrize("values", SCENARIOS, ids=scenario_id)
def test_the_pod_runs_restricted(values: tuple[str, ...]) -> None:
    docs = render(*values)
    pod = pod_spec(docs)
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert isinstance(security["runAsUser"], int) and security["runAsUser"] > 0
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    sentinel = container(docs)
    assert sentinel["securityContext"]["allowPrivilegeEscalation"] is False
    assert sentinel["securityContext"]["readOnlyRootFilesystem"] is True
    assert sentinel["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert sentinel["resources"]["requests"] and sentinel["resources"]["limits"]["memory"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    tmp = next(mount for mount in sentinel["volumeMounts"] if mount["mountPath"] == "/tmp")
    assert volumes[tmp["name"]]["emptyDir"] == {}


def test_the_pod_runs_as_the_user_the_image_declares() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    user = pod_spec(render(MINIMAL))["securityContext"]["runAsUser"]
    assert f"USER {user}:" in dockerfile


@pytest.mark.parametrize("values", SCENARIOS, ids=scenario_id)
def test_liveness_reads_healthz_and_readiness_reads_readyz_on_the_metrics_port(
    values: tuple[str, ...],
) -> None:
    docs = render(*values)
    sentinel = container(docs)
    (port,) = sentinel["ports"]
    assert port == {"name": "http", "containerPort": 9464, "protocol": "TCP"}
    assert sentinel["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert sentinel["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert sentinel["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert rendered_config(docs)["http"]["listen"] == "0.0.0.0:9464"


def test_the_container_runs_the_images_entrypoint_with_the_config_where_it_looks() -> None:
    sentinel = container(render(MINIMAL))
    assert "command" not in sentinel and "args" not in sentinel
    config_mount = next(mount for mount in sentinel["volumeMounts"] if mount["name"] == "config")
    assert config_mount["mountPath"] == "/etc/sentinel/config.yaml"
    assert config_mount["subPath"] == "config.yaml"


def test_a_config_change_rolls_the_pods_and_an_expectation_change_does_not() -> None:
    base = checksum(render(MINIMAL))
    assert checksum(render(MINIMAL, sets=("config.log.level=debug",))) != base
    assert checksum(render(MINIMAL, sets=("secretEnv.X.secret=s", "secretEnv.X.key=k"))) == base
    assert checksum(render(MINIMAL, sets=("expectations.files.a\\.yaml=changed",))) == base
    assert checksum(render(MINIMAL, sets=("schemas.existingConfigMaps={team-schemas}",))) == base
    assert re.fullmatch(r"[0-9a-f]{64}", base)


def test_expectations_and_schemas_from_values_and_team_config_maps_share_one_folder() -> None:
    docs = render("single.yaml")
    volumes = {volume["name"]: volume for volume in pod_spec(docs)["volumes"]}
    sources = [
        source["configMap"]["name"] for source in volumes["expectations"]["projected"]["sources"]
    ]
    assert sources == [f"{RELEASE}-rollout-sentinel-expectations", "team-payments-expectations"]
    mounts = {mount["name"]: mount for mount in container(docs)["volumeMounts"]}
    # No subPath: a ConfigMap update must reach the running pod for the sentinel to reload.
    assert mounts["expectations"] == {
        "name": "expectations",
        "mountPath": "/etc/sentinel/expectations",
        "readOnly": True,
    }
    assert "subPath" not in mounts["schemas"]
    config_maps = {doc["metadata"]["name"]: doc for doc in kinds(docs)["ConfigMap"]}
    expectations = config_maps[f"{RELEASE}-rollout-sentinel-expectations"]["data"]
    assert "name: user-service-v2" in expectations["user-service.yaml"]


# Secrets.


def test_secrets_come_from_existing_secrets_and_never_reach_the_config_map() -> None:
    docs = render("secrets.yaml")
    env = {item["name"]: item for item in container(docs)["env"]}
    assert env["SLACK_BOT_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "rollout-sentinel-slack",
        "key": "token",
    }
    assert env["KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "kafka-credentials"
    assert env["SENTINEL_WEBHOOK_SECRET"]["valueFrom"]["secretKeyRef"]["key"] == "secret"
    config = rendered_config(docs)
    assert config["alerting"]["slack"]["token_env"] == "SLACK_BOT_TOKEN"
    assert config["kafka"]["sasl_password_env"] == "KAFKA_PASSWORD"
    assert "Secret" not in kinds(docs)


def test_a_config_env_variable_that_nothing_sets_is_refused() -> None:
    error = render_error(MINIMAL, sets=("config.alerting.slack_webhook.url_env=SLACK_WEBHOOK_URL",))
    assert "SLACK_WEBHOOK_URL" in error
    assert "secretEnv" in error


def test_env_from_whole_secrets_lifts_the_env_variable_check() -> None:
    docs = render(
        MINIMAL,
        sets=(
            "config.alerting.slack_webhook.url_env=SLACK_WEBHOOK_URL",
            "envFrom[0].secretRef.name=sentinel-env",
        ),
    )
    assert container(docs)["envFrom"] == [{"secretRef": {"name": "sentinel-env"}}]


# Labels and the objects that find each other by them.


@pytest.mark.parametrize("values", SCENARIOS, ids=scenario_id)
def test_every_object_carries_the_standard_labels_and_selectors_match(
    values: tuple[str, ...],
) -> None:
    docs = render(*values)
    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert labels.keys() >= STANDARD_LABELS, f"{doc['kind']} {doc['metadata']['name']}"
        assert labels["app.kubernetes.io/version"] == __version__
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
    pod_labels = workload(docs)["spec"]["template"]["metadata"]["labels"]
    selector = workload(docs)["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert one(docs, "Service")["spec"]["selector"].items() <= pod_labels.items()
    if "PodDisruptionBudget" in kinds(docs):
        pdb = one(docs, "PodDisruptionBudget")
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_the_service_publishes_pods_that_are_not_ready_so_lagging_ones_are_scraped() -> None:
    service = one(render(MINIMAL), "Service")
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 9464, "targetPort": "http", "protocol": "TCP"}
    ]


# Monitoring.


def test_monitoring_objects_are_left_out_unless_asked_for() -> None:
    docs = render(MINIMAL)
    assert MONITORING_KINDS.isdisjoint(kinds(docs))
    assert not any(doc["metadata"]["name"].endswith("-dashboard") for doc in docs)


def test_monitoring_objects_carry_the_labels_prometheus_and_grafana_select() -> None:
    docs = render("monitoring.yaml")
    monitor = one(docs, "ServiceMonitor")
    rule = one(docs, "PrometheusRule")
    for item in (monitor, rule):
        assert item["apiVersion"] == "monitoring.coreos.com/v1"
        assert item["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    service = one(docs, "Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
    assert endpoint["interval"] == "15s"
    assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/name"
    dashboard = next(doc for doc in docs if doc["metadata"]["name"].endswith("-dashboard"))
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "Rollouts"}


def test_the_dashboard_config_map_holds_the_dashboard_json() -> None:
    docs = render(MINIMAL, sets=("grafanaDashboard.enabled=true",))
    dashboard = next(doc for doc in docs if doc["metadata"]["name"].endswith("-dashboard"))
    (content,) = dashboard["data"].values()
    assert json.loads(content) == json.loads(DASHBOARD.read_text())
    assert len(content.encode()) < 1024 * 1024


def test_the_chart_ships_the_very_rules_and_dashboard_of_alerting() -> None:
    for source in (RULES, DASHBOARD):
        copy = CHART / "files" / source.name
        assert copy.read_bytes() == source.read_bytes(), (
            f"{copy} differs from {source}: cp {source.relative_to(REPO)} {copy.relative_to(REPO)}"
        )


def test_the_prometheus_rule_holds_the_groups_of_the_rules_file() -> None:
    rule = one(render(MINIMAL, sets=("prometheusRule.enabled=true",)), "PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]


def test_the_prometheus_rule_follows_the_name_runbooks_labels_and_disabled_alerts(
    tmp_path: Path,
) -> None:
    rule = one(render("monitoring.yaml"), "PrometheusRule")
    groups = rule["spec"]["groups"]
    alerts = [item for group in groups for item in group["rules"] if "alert" in item]
    names = {alert["alert"] for alert in alerts}
    assert "SentinelBusSilent" not in names and "SentinelDown" in names
    down = next(alert for alert in alerts if alert["alert"] == "SentinelDown")
    assert down["expr"] == 'up{job="sentinel"} == 0'
    for alert in alerts:
        assert alert["labels"]["team"] == "platform"
        assert alert["labels"]["severity"] in {"critical", "warning"}
        assert alert["annotations"]["runbook_url"] == (
            f"https://runbooks.example.internal/rollout-sentinel#{alert['alert'].lower()}"
        )
    path = tmp_path / "rendered-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    run(promtool(), "check", "rules", str(path))


# What the cluster and the sentinel make of it.


@pytest.mark.parametrize("kubernetes", ["1.25", "1.35"])
@pytest.mark.parametrize("values", SCENARIOS, ids=scenario_id)
def test_the_manifests_match_the_kubernetes_schemas(
    values: tuple[str, ...], kubernetes: str, tmp_path: Path
) -> None:
    path = tmp_path / "manifests.yaml"
    path.write_text(render_text(*values))
    result = run(
        python(),
        "-m",
        "kubernetes_validate",
        "--strict",
        "--quiet",
        f"--kubernetes-version={kubernetes}",
        str(path),
        check=False,
        env=kubernetes_validate_env(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Only the Prometheus Operator's kinds have no schema here; the tests above check them.
    unchecked = {
        line.split("kind ")[1].split(" ")[0]
        for line in (result.stdout + result.stderr).splitlines()
        if "Couldn't find schema" in line
    }
    assert unchecked <= MONITORING_KINDS


@pytest.mark.parametrize("values", SCENARIOS, ids=scenario_id)
def test_the_sentinel_accepts_the_config_the_chart_renders(
    values: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(*values)
    root = tmp_path / "etc" / "sentinel"
    config_maps = {
        doc["metadata"]["name"]: doc.get("data") or {} for doc in kinds(docs)["ConfigMap"]
    }
    volumes = {volume["name"]: volume for volume in pod_spec(docs)["volumes"]}
    for kind in ("expectations", "schemas"):
        folder = root / kind
        folder.mkdir(parents=True)
        for source in volumes[kind]["projected"]["sources"]:
            name = source["configMap"]["name"]
            stand_in = {f"{name}.yaml": TEAM_EXPECTATION} if kind == "expectations" else {}
            files = config_maps.get(name, stand_in)
            for file, text in files.items():
                (folder / file).write_text(text)
    (root / "kafka-tls").mkdir()
    # A real certificate: the registry's ca_file is loaded at start (Kafka's only later).
    certificate, _ = self_signed(tmp_path)
    (root / "kafka-tls" / "ca.crt").write_bytes(certificate.read_bytes())
    for variable in container(docs).get("env", []):
        monkeypatch.setenv(variable["name"], "from-a-secret")
    # The ConfigMap's text as the pod reads it, with /etc/sentinel moved under tmp_path.
    text = config_maps[volumes["config"]["configMap"]["name"]]["config.yaml"]
    text = text.replace("/etc/sentinel/", f"{root}/")
    (root / "config.yaml").write_text(text)

    config = load_config(root / "config.yaml")

    assert config.http.port == 9464 and config.http.host == "0.0.0.0"
    assert config.expectations == root / "expectations"
    rules = load_rules(config.expectations, config.schemas)
    if values == ("single.yaml",):
        names = [expectation.name for expectation in rules.expectations]
        assert sorted(names) == ["payments-v5", "user-service-v2"]
        assert config.kafka.topics == ("rollout.events", "deploy.events")
    alerting = config.alerting
    if values == ("secrets.yaml",):
        assert alerting is not None
        assert config.kafka.sasl_password == "from-a-secret"
        slack = alerting.sinks[0]
        assert isinstance(slack, SlackSettings) and slack.token == "from-a-secret"
        assert alerting.sink_names == ("slack", "webhook")
        assert config.registry is not None
        assert (config.registry.username, config.registry.password) == ("sentinel", "from-a-secret")
    if values == ("tracing.yaml",):
        otlp = config.tracing.otlp
        assert otlp is not None and otlp.endpoint == "http://otel-collector.observability:4318"
        assert otlp.headers == {"x-scope-orgid": "from-a-secret"}
        assert config.tracing.resource == {"deployment.environment.name": "prod"}


def test_the_chart_version_follows_the_package() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == __version__ == project["version"]


def test_the_image_is_the_app_version_unless_a_tag_or_digest_says_otherwise() -> None:
    assert container(render(MINIMAL))["image"] == f"rollout-sentinel:{__version__}"
    assert (
        container(render(MINIMAL, sets=("image.tag=9.9.9",)))["image"] == "rollout-sentinel:9.9.9"
    )
    digest = "sha256:" + "ab" * 32
    image = container(render(MINIMAL, sets=(f"image.digest={digest}", "image.repository=r.io/s")))
    assert image["image"] == f"r.io/s@{digest}"
