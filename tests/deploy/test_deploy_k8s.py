"""Kubernetes manifests: kubernetes-validate on every core object, a schema for KEDA's, and
the cross-references between them (selectors, ports, settings, partition count)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from deploy_helpers import K8S_DIR, K8S_VERSION, load_yaml_documents
from deploy_settings_env import assert_settings_env

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


def _config_env() -> dict[str, str]:
    config = _one("ConfigMap", "tradepipe-config")["data"]
    secret = _one("Secret", "tradepipe-secrets")["stringData"]
    return {**config, **secret}


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


@pytest.mark.parametrize("component", ["worker", "sink", "ingress"])
def test_deployment_is_production_ready(component: str) -> None:
    deployment = _one("Deployment", f"tradepipe-{component}")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    assert container["args"] == [component]
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


@pytest.mark.parametrize("component", ["worker", "sink"])
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
    for deployment in _objects("Deployment"):
        template = deployment["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        (container,) = template["spec"]["containers"]

        assert annotations["prometheus.io/scrape"] == "true"
        ports = {port["containerPort"] for port in container["ports"]}
        assert int(annotations["prometheus.io/port"]) in ports


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
