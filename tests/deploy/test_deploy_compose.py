"""docker-compose.yml: valid for docker-compose, and the production shape it promises."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet
from deploy_helpers import (
    COMPOSE_FILE,
    DASHBOARDS,
    PROMETHEUS_DIR,
    REPO,
    RULES_FILE,
    assert_tradepipe_command,
    require_tool,
    run,
)
from deploy_settings_env import assert_settings_env

from connectors.ingress.store import SecretBox

ENV_EXAMPLE = REPO / "deploy" / "compose.env.example"
# Every process the default configuration needs, with the command it runs.
TRADEPIPE_SERVICES = {
    "migrate": ["db", "migrate"],
    "worker": ["worker"],
    "sink": ["sink"],
    "paper": ["paper"],
    "ingress": ["ingress"],
    "simulator": ["simulate", "--rate", "20"],
}
LONG_RUNNING = sorted(set(TRADEPIPE_SERVICES) - {"migrate"})


def _required_variables() -> set[str]:
    """Variables the compose file refuses to run without (``${VAR:?message}``)."""
    lines = COMPOSE_FILE.read_text(encoding="utf-8").splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    return set(re.findall(r"\$\{(\w+):\?", text))


def _example_variables() -> dict[str, str]:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {name.strip(): value for name, value in pairs}


def _env_file(tmp_path: Path, skip: str | None = None) -> Path:
    """An env file like a filled-in ``.env``: a real Fernet key, throwaway passwords."""
    values = {name: f"test-{name.lower()}" for name in _example_variables()}
    values["INGRESS_SECRETS_KEY"] = Fernet.generate_key().decode()
    path = tmp_path / (f"without-{skip}.env" if skip else "filled.env")
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items() if k != skip), encoding="utf-8")
    return path


def _compose_env() -> dict[str, str]:
    """The test's environment without the compose variables (the env file alone sets them)."""
    names = _required_variables()
    return {k: v for k, v in os.environ.items() if k not in names}


def _config(env_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    compose = require_tool("docker-compose")
    argv = [compose, "-f", str(COMPOSE_FILE), "--env-file", str(env_file), "config", *extra]
    return run(argv, env=_compose_env())


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The compose file as docker-compose resolves it (anchors, merges, variables)."""
    result = _config(_env_file(tmp_path_factory.mktemp("compose-env")))
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = yaml.safe_load(result.stdout)
    return loaded


def test_compose_config_is_valid(tmp_path: Path) -> None:
    result = _config(_env_file(tmp_path), "-q")

    assert result.returncode == 0, result.stderr


def test_example_env_lists_every_required_secret_and_fills_in_none() -> None:
    example = _example_variables()

    assert set(example) == _required_variables()
    assert {"POSTGRES_PASSWORD", "INGRESS_SECRETS_KEY", "GRAFANA_ADMIN_PASSWORD"} <= set(example)
    assert all(value == "" for value in example.values()), example


@pytest.mark.parametrize("missing", sorted(_required_variables()))
def test_compose_refuses_to_run_without_each_secret(tmp_path: Path, missing: str) -> None:
    result = _config(_env_file(tmp_path, skip=missing), "-q")

    assert result.returncode != 0
    assert f"set {missing} in .env" in result.stderr


def test_the_env_file_is_gitignored_and_the_example_is_not() -> None:
    git = require_tool("git")

    ignored = run([git, "check-ignore", "-q", ".env"])
    example = run([git, "check-ignore", "-q", str(ENV_EXAMPLE.relative_to(REPO))])

    assert ignored.returncode == 0
    assert example.returncode == 1


def test_no_secret_has_a_default_in_the_compose_file() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")

    assert not re.findall(r"\$\{\w*(PASSWORD|KEY|SECRET)\w*:?-", text)


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
        *TRADEPIPE_SERVICES,
        "prometheus",
        "alertmanager",
        "grafana",
    }

    assert expected <= set(resolved["services"])


def test_worker_runs_two_replicas(resolved: dict[str, Any]) -> None:
    worker = resolved["services"]["worker"]

    assert worker["deploy"]["replicas"] == 2
    assert "container_name" not in worker  # would forbid a second replica


@pytest.mark.parametrize("name", sorted(TRADEPIPE_SERVICES))
def test_tradepipe_services_run_real_commands_of_the_image(
    resolved: dict[str, Any], name: str
) -> None:
    service = resolved["services"][name]

    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert service["command"] == TRADEPIPE_SERVICES[name]
    assert_tradepipe_command(service["command"])


def test_migrate_is_a_one_shot_after_postgres(resolved: dict[str, Any]) -> None:
    migrate = resolved["services"]["migrate"]

    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_process_starts_only_after_migrate_succeeded(
    resolved: dict[str, Any], name: str
) -> None:
    depends = resolved["services"][name]["depends_on"]

    assert depends["migrate"] == {"condition": "service_completed_successfully"}


@pytest.mark.parametrize("name", sorted(TRADEPIPE_SERVICES))
def test_tradepipe_environment_is_valid_settings(resolved: dict[str, Any], name: str) -> None:
    env = resolved["services"][name]["environment"]

    settings = assert_settings_env(env)

    assert settings.profile.value == "prod"
    assert settings.kafka.replication_factor == 3
    assert settings.metrics_port == 9100
    assert "test-postgres_password@postgres:5432" in settings.postgres.dsn.get_secret_value()


def test_the_ingress_alone_gets_a_working_secrets_key(resolved: dict[str, Any]) -> None:
    services = resolved["services"]

    ingress = assert_settings_env(services["ingress"]["environment"])
    box = SecretBox.from_settings(ingress.ingress)

    assert box.decrypt(box.encrypt("probe")) == b"probe"
    for name in set(TRADEPIPE_SERVICES) - {"ingress"}:
        assert "TRADEPIPE_INGRESS__SECRETS_KEY" not in services[name]["environment"], name


def test_services_without_metrics_have_no_health_check(resolved: dict[str, Any]) -> None:
    services = resolved["services"]

    for name in ("migrate", "simulator"):
        assert services[name]["healthcheck"] == {"test": ["NONE"]}, name
    for name in ("worker", "sink", "paper", "ingress"):
        assert "healthcheck" not in services[name], name  # the image's HEALTHCHECK applies


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
