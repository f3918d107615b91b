"""Kubernetes manifests: kubernetes-validate on every core object, a schema for KEDA's, and
the cross-references between them (selectors, ports, settings, partition count)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography.fernet import Fernet
from deploy_helpers import K8S_DIR, K8S_VERSION, assert_tradepipe_command, load_yaml_documents
from deploy_settings_env import assert_settings_env

from connectors.ingress.store import SecretBox
from streams.errors import ConfigError

KEDA_SCHEMA = Path(__file__).parent / "schemas" / "keda-scaledobject.schema.json"
MANIFESTS = sorted(K8S_DIR.rglob("*.yaml"))
# Files kept out of the base install on purpose (see kustomization.yaml).
OPTIONAL = {"jobs/restore-job.yaml"}


def _objects(kind: str | None = None) -> Iterator[dict[str, Any]]:
    for path in MANIFESTS:
        for doc in load_yaml_documents(path):
            if kind is None or doc["kind"] == kind:
                yield doc


def _one(kind: str, name: str) -> dict[str, Any]:
    found = [doc for doc in _objects(kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


# Every process the default configuration needs: Deployment component -> its command.
PROCESSES = {
    "worker": ["worker"],
    "sink": ["sink"],
    "paper": ["paper"],
    "ingress": ["ingress"],
    "simulator": ["simulate", "--rate", "20"],
}
SERVERS = ("worker", "sink", "paper", "ingress")  # serve /metrics (and the ingress HTTP)
POSTGRES_USERS = ("worker", "sink", "ingress")


def _pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, pod spec) of every Deployment and Job."""
    for doc in _objects():
        if doc["kind"] in {"Deployment", "Job"}:
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def _data(kind: str, name: str) -> dict[str, str]:
    obj = _one(kind, name)
    values: dict[str, str] = obj.get("data" if kind == "ConfigMap" else "stringData", {})
    return values


def _container_env(container: dict[str, Any], **replace: str) -> dict[str, str]:
    """The environment Kubernetes gives ``container``; ``replace`` swaps Secret values."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(_data("ConfigMap", source["configMapRef"]["name"]))
        else:
            env.update(_data("Secret", source["secretRef"]["name"]))
    for item in container.get("env", []):
        ref = item["valueFrom"]["secretKeyRef"]
        env[item["name"]] = replace.get(item["name"], _data("Secret", ref["name"])[ref["key"]])
    return env


def _deployment_container(component: str) -> dict[str, Any]:
    (container,) = _one("Deployment", f"tradepipe-{component}")["spec"]["template"]["spec"][
        "containers"
    ]
    return container


def _config_env() -> dict[str, str]:
    return _container_env(_deployment_container("worker"))


def _partitions() -> int:
    return int(_one("ConfigMap", "tradepipe-config")["data"]["TRADEPIPE_KAFKA__PARTITIONS"])


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(K8S_DIR)))
def test_manifest_is_valid(path: Path) -> None:
    """Core objects: kubernetes-validate, strict (unknown fields refused)."""
    # Imported here: it loads jsonschema and its schema registry, needed by this test only.
    from kubernetes_validate import utils as kv

    docs = load_yaml_documents(path)
    assert docs, f"{path} holds no object"
    for doc in docs:
        if doc["kind"] == "ScaledObject":
            schema = json.loads(KEDA_SCHEMA.read_text(encoding="utf-8"))
            jsonschema.Draft202012Validator(schema).validate(doc)
        elif doc["kind"] == "Kustomization":
            for resource in doc["resources"]:
                assert (path.parent / resource).is_file(), resource
        else:
            kv.validate(doc, K8S_VERSION, strict=True)


def test_kustomization_applies_everything_but_the_optional_files() -> None:
    kustomization = load_yaml_documents(K8S_DIR / "kustomization.yaml")[0]
    listed = set(kustomization["resources"])
    present = {str(p.relative_to(K8S_DIR)) for p in MANIFESTS} - {"kustomization.yaml"}

    assert listed == present - OPTIONAL
    assert present >= OPTIONAL


def test_every_object_lives_in_the_tradepipe_namespace() -> None:
    for doc in _objects():
        if doc["kind"] in {"Namespace", "Kustomization"}:
            continue
        assert doc["metadata"]["namespace"] == "tradepipe", doc["metadata"]["name"]


def test_config_and_secret_are_real_settings() -> None:
    settings = assert_settings_env(_config_env())

    assert settings.profile.value == "prod"
    assert settings.kafka.replication_factor == 3
    assert settings.metrics_port == 9100
    assert settings.ingress.port == 8080


def test_keda_scales_the_worker_group_up_to_the_partition_count() -> None:
    scaled = _one("ScaledObject", "tradepipe-worker")
    config = _one("ConfigMap", "tradepipe-config")["data"]
    deployment = _one("Deployment", scaled["spec"]["scaleTargetRef"]["name"])
    kafka = [t for t in scaled["spec"]["triggers"] if t["type"] == "kafka"]

    assert deployment["metadata"]["name"] == "tradepipe-worker"
    assert scaled["spec"]["maxReplicaCount"] == _partitions()
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
    assert len(kafka) == 1
    # Faust's consumer group is the app id.
    assert kafka[0]["metadata"]["consumerGroup"] == config["TRADEPIPE_APP_ID"]
    assert kafka[0]["metadata"]["bootstrapServers"] == config["TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS"]
    assert kafka[0]["metadata"]["allowIdleConsumers"] == "false"


def test_keda_schema_refuses_a_misspelt_field() -> None:
    schema = json.loads(KEDA_SCHEMA.read_text(encoding="utf-8"))
    scaled = _one("ScaledObject", "tradepipe-worker")
    broken = json.loads(json.dumps(scaled))
    broken["spec"]["maxReplicas"] = broken["spec"].pop("maxReplicaCount")

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(broken)


@pytest.mark.parametrize("component", SERVERS)
def test_deployment_is_production_ready(component: str) -> None:
    deployment = _one("Deployment", f"tradepipe-{component}")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    assert container["args"] == PROCESSES[component]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert probe in container, probe
    refs = {next(iter(source.values()))["name"] for source in container["envFrom"]}
    assert refs == {"tradepipe-config", "tradepipe-secrets"}


def test_ingress_probes_healthz_and_readyz_on_its_http_port() -> None:
    (container,) = _one("Deployment", "tradepipe-ingress")["spec"]["template"]["spec"]["containers"]
    port_names = {port["name"]: port["containerPort"] for port in container["ports"]}

    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert port_names[container["readinessProbe"]["httpGet"]["port"]] == 8080


@pytest.mark.parametrize("component", ["worker", "sink", "paper"])
def test_consumers_probe_their_metrics_port(component: str) -> None:
    deployment = _one("Deployment", f"tradepipe-{component}")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    port_names = {port["name"]: port["containerPort"] for port in container["ports"]}

    for probe in ("livenessProbe", "readinessProbe"):
        http = container[probe]["httpGet"]
        assert http["path"] == "/metrics"
        assert port_names[http["port"]] == 9100


def _pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_every_deployment_has_a_disruption_budget() -> None:
    budgets = list(_objects("PodDisruptionBudget"))

    for deployment in _objects("Deployment"):
        labels = _pod_labels(deployment)
        matching = [b for b in budgets if _selects(b["spec"]["selector"]["matchLabels"], labels)]
        assert len(matching) == 1, deployment["metadata"]["name"]


def test_deployment_selectors_match_their_pods() -> None:
    for deployment in _objects("Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert _selects(selector, _pod_labels(deployment)), deployment["metadata"]["name"]


def test_services_select_pods_and_name_ports_those_pods_expose() -> None:
    deployments = list(_objects("Deployment"))

    for service in _objects("Service"):
        selected = [d for d in deployments if _selects(service["spec"]["selector"], _pod_labels(d))]
        assert len(selected) == 1, service["metadata"]["name"]
        (container,) = selected[0]["spec"]["template"]["spec"]["containers"]
        exposed = {port["name"] for port in container["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in exposed, (service["metadata"]["name"], port)


def test_scrape_annotations_match_a_container_port() -> None:
    scraped = set()
    for deployment in _objects("Deployment"):
        template = deployment["spec"]["template"]
        annotations = template["metadata"].get("annotations", {})
        if not annotations:
            continue
        (container,) = template["spec"]["containers"]

        assert annotations["prometheus.io/scrape"] == "true"
        ports = {port["containerPort"] for port in container["ports"]}
        assert int(annotations["prometheus.io/port"]) in ports
        scraped.add(template["metadata"]["labels"]["app.kubernetes.io/component"])

    assert scraped == set(SERVERS)


def test_network_policy_denies_by_default_and_opens_the_used_ports() -> None:
    policies = {p["metadata"]["name"]: p for p in _objects("NetworkPolicy")}
    default = policies["default-deny"]["spec"]
    opened = {
        port["port"]
        for policy in policies.values()
        for rule in policy["spec"].get("ingress", [])
        for port in rule.get("ports", [])
    }

    assert default["podSelector"] == {}
    assert set(default["policyTypes"]) == {"Ingress", "Egress"}
    assert {8080, 9100} <= opened


def test_restore_job_runs_restore_once_with_the_shared_config() -> None:
    job = _one("Job", "tradepipe-restore")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    assert container["args"] == ["restore"]
    assert pod["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] == 0
    refs = {next(iter(source.values()))["name"] for source in container["envFrom"]}
    assert refs == {"tradepipe-config", "tradepipe-secrets"}


def test_every_process_of_the_default_configuration_runs() -> None:
    running = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"]["template"]["spec"][
            "containers"
        ][0]["args"]
        for d in _objects("Deployment")
    }

    assert running == PROCESSES
    for args in running.values():
        assert_tradepipe_command(args)


def test_the_simulator_runs_alone() -> None:
    deployment = _one("Deployment", "tradepipe-simulator")

    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"


def test_every_env_reference_names_an_existing_configmap_secret_and_key() -> None:
    for where, pod in _pod_specs():
        for container in _containers(pod):
            for source in container.get("envFrom", []):
                kind = "ConfigMap" if "configMapRef" in source else "Secret"
                ref = source["configMapRef" if kind == "ConfigMap" else "secretRef"]
                assert not ref.get("optional"), (where, ref)
                _one(kind, ref["name"])
            for item in container.get("env", []):
                ref = item["valueFrom"]["secretKeyRef"]
                assert not ref.get("optional"), (where, ref)
                assert ref["key"] in _data("Secret", ref["name"]), (where, ref)


@pytest.mark.parametrize("component", [*SERVERS, "simulator"])
def test_each_container_gets_valid_settings(component: str) -> None:
    pod = _one("Deployment", f"tradepipe-{component}")["spec"]["template"]["spec"]

    for container in _containers(pod):
        settings = assert_settings_env(_container_env(container))
        assert settings.profile.value == "prod"
        assert settings.agents.default_venue == "paper"


def test_only_the_ingress_holds_the_secrets_key_and_a_real_one_opens_it() -> None:
    key = Fernet.generate_key().decode()
    for component in set(PROCESSES) - {"ingress"}:
        env = _container_env(_deployment_container(component))
        assert "TRADEPIPE_INGRESS__SECRETS_KEY" not in env, component

    placeholder = assert_settings_env(_container_env(_deployment_container("ingress")))
    real = assert_settings_env(
        _container_env(_deployment_container("ingress"), TRADEPIPE_INGRESS__SECRETS_KEY=key)
    )

    with pytest.raises(ConfigError, match="not a valid Fernet key"):
        SecretBox.from_settings(placeholder.ingress)
    box = SecretBox.from_settings(real.ingress)
    assert box.decrypt(box.encrypt("probe")) == b"probe"


def test_committed_secrets_carry_only_placeholders() -> None:
    for secret in _objects("Secret"):
        assert "data" not in secret, secret["metadata"]["name"]
        for key, value in secret["stringData"].items():
            assert "CHANGE-ME" in value, (secret["metadata"]["name"], key)


def test_migrate_job_runs_db_migrate_in_the_base_install() -> None:
    job = _one("Job", "tradepipe-migrate")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    kustomization = load_yaml_documents(K8S_DIR / "kustomization.yaml")[0]

    assert container["args"] == ["db", "migrate"]
    assert_tradepipe_command(container["args"])
    assert pod["restartPolicy"] == "Never"
    assert "migrate-job.yaml" in kustomization["resources"]
    refs = {next(iter(source.values()))["name"] for source in container["envFrom"]}
    assert refs == {"tradepipe-config", "tradepipe-secrets"}


@pytest.mark.parametrize("component", POSTGRES_USERS)
def test_postgres_users_wait_for_the_migrations_first(component: str) -> None:
    pod = _one("Deployment", f"tradepipe-{component}")["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    (container,) = pod["containers"]

    assert init["args"][:2] == ["db", "wait"]
    assert_tradepipe_command(init["args"])
    assert init["image"] == container["image"]
    assert init["envFrom"] == container["envFrom"]
    assert init["securityContext"] == container["securityContext"]
