"""The chart and several replicas' board and rollout API: in changelog mode every pod is told
(config http.peers) the headless Service that resolves to all of them; in single mode there
are no peers."""

from __future__ import annotations

from .test_helm_chart import MINIMAL, rendered_config
from .tools import NAMESPACE, one, render, render_error, render_text

SERVICE = "sentinel-rollout-sentinel"


def test_in_changelog_mode_each_replica_asks_the_others_through_the_headless_service() -> None:
    docs = render("replicas.yaml")
    assert rendered_config(docs)["http"] == {
        "listen": "0.0.0.0:9464",
        "peers": f"{SERVICE}.{NAMESPACE}.svc:9464",
    }
    service = one(docs, "Service")
    assert service["metadata"]["name"] == SERVICE
    assert service["spec"]["clusterIP"] == "None"  # its name resolves to every pod
    assert service["spec"]["publishNotReadyAddresses"] is True  # a lagging pod is still asked


def test_the_peers_follow_the_service_port() -> None:
    docs = render("replicas.yaml", sets=("service.port=9500",))
    assert rendered_config(docs)["http"]["peers"] == f"{SERVICE}.{NAMESPACE}.svc:9500"


def test_one_pod_has_no_peers() -> None:
    assert "peers" not in rendered_config(render(MINIMAL))["http"]


def test_peers_set_in_values_are_refused_in_changelog_mode() -> None:
    error = render_error("replicas.yaml", sets=("config.http.peers=elsewhere:9464",))
    assert "config.http.peers is set by the chart in changelog mode" in error


def test_basic_auth_reads_its_password_from_a_secret() -> None:
    sets = (
        "config.http.basic_auth.username=oncall",
        "config.http.basic_auth.password_env=BOARD_PASSWORD",
    )
    assert "BOARD_PASSWORD" in render_error(MINIMAL, sets=sets)  # nothing sets the variable
    text = render_text(
        MINIMAL,
        sets=(*sets, "secretEnv.BOARD_PASSWORD.secret=board", "secretEnv.BOARD_PASSWORD.key=pw"),
    )
    assert "password_env: BOARD_PASSWORD" in text
