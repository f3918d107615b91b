"""docker-compose.yml: valid for docker-compose, and the production shape it promises."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from deploy_helpers import (
    COMPOSE_FILE,
    DASHBOARDS,
    PROMETHEUS_DIR,
    REPO,
    RULES_FILE,
    require_tool,
    run,
)
from deploy_settings_env import assert_settings_env

TRADEPIPE_SERVICES = ("worker", "sink", "ingress")


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """The compose file as docker-compose resolves it (anchors, merges, defaults)."""
    compose = require_tool("docker-compose")
    result = run([compose, "-f", str(COMPOSE_FILE), "config"])
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_config_is_valid() -> None:
    compose = require_tool("docker-compose")

    result = run([compose, "-f", str(COMPOSE_FILE), "config", "-q"])

    assert result.returncode == 0, result.stderr


def test_kafka_runs_three_kraft_nodes_with_rf3_and_min_isr2(resolved: dict[str, Any]) -> None:
    brokers = {name: svc for name, svc in resolved["services"].items() if name.startswith("kafka-")}

    assert sorted(brokers) == ["kafka-1", "kafka-2", "kafka-3"]
    node_ids = set()
    for svc in brokers.values():
        env = svc["environment"]
        node_ids.add(env["KAFKA_NODE_ID"])
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].count("@") == 3
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert node_ids == {"1", "2", "3"}


def test_stack_has_every_component(resolved: dict[str, Any]) -> None:
    expected = {
        "kafka-1",
        "kafka-2",
        "kafka-3",
        "schema-registry",
        "postgres",
        "redis",
        "worker",
        "sink",
        "ingress",
        "prometheus",
        "alertmanager",
        "grafana",
    }

    assert expected <= set(resolved["services"])


def test_worker_runs_two_replicas(resolved: dict[str, Any]) -> None:
    worker = resolved["services"]["worker"]

    assert worker["deploy"]["replicas"] == 2
    assert "container_name" not in worker  # would forbid a second replica


def test_tradepipe_services_use_the_image_entrypoint_commands(resolved: dict[str, Any]) -> None:
    for name in TRADEPIPE_SERVICES:
        service = resolved["services"][name]
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert service["command"] == [name]


def test_tradepipe_environment_is_valid_settings(resolved: dict[str, Any]) -> None:
    for name in TRADEPIPE_SERVICES:
        env = resolved["services"][name]["environment"]
        settings = assert_settings_env(env)
        assert settings.profile.value == "prod"
        assert settings.kafka.replication_factor == 3
        assert settings.metrics_port == 9100


def _mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, is_bind) of a service's volumes, in short or long syntax."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            mounts.append((volume["source"], volume["target"], volume.get("type") == "bind"))
        else:
            source, target = volume.split(":")[:2]
            mounts.append((source, target, source.startswith(("/", "."))))
    return mounts


def test_bind_mounts_point_at_files_in_the_repo(resolved: dict[str, Any]) -> None:
    binds = [
        source
        for service in resolved["services"].values()
        for source, _, is_bind in _mounts(service)
        if is_bind
    ]

    assert binds, "expected Prometheus, Alertmanager and Grafana config mounts"
    for source in binds:
        path = (REPO / source).resolve()
        assert path.exists(), f"bind mount source missing: {source}"
        assert REPO in path.parents


def test_prometheus_loads_the_rules_and_grafana_the_dashboards(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    prometheus = {target: source for source, target, _ in _mounts(services["prometheus"])}
    grafana = {target: source for source, target, _ in _mounts(services["grafana"])}

    assert (REPO / prometheus["/etc/prometheus/rules"]).resolve() == RULES_FILE.parent
    assert (REPO / prometheus["/etc/prometheus/prometheus.yml"]).resolve() == (
        PROMETHEUS_DIR / "prometheus.yml"
    )
    assert (REPO / grafana["/var/lib/grafana/dashboards/tradepipe"]).resolve() == DASHBOARDS


def test_grafana_home_dashboard_is_one_of_ours(resolved: dict[str, Any]) -> None:
    home = resolved["services"]["grafana"]["environment"][
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"
    ]

    assert home.startswith("/var/lib/grafana/dashboards/tradepipe/")
    assert (DASHBOARDS / home.rsplit("/", 1)[1]).is_file()
