"""Dashboards, alert rules and autoscalers use only metric names from streams/metrics.py.

A quick static check; that the names are emitted, and that every panel and alert has data,
is proven against a real Prometheus by tests/e2e/test_metrics_scraped.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from deploy_helpers import (
    DASHBOARDS,
    K8S_DIR,
    dashboard_exprs,
    known_metric_names,
    load_yaml_documents,
    promql_metric_names,
    rule_exprs,
)

# Series Prometheus itself produces for every target.
PROMETHEUS_BUILTIN = frozenset({"up"})


@pytest.fixture(scope="module")
def allowed() -> frozenset[str]:
    return frozenset(known_metric_names()) | PROMETHEUS_BUILTIN


def _autoscaler_metric_names(root: Path = K8S_DIR) -> Iterator[tuple[str, set[str]]]:
    """Metric names in HPA external metrics, KEDA triggers and prometheus-adapter rules."""
    for path in sorted(root.rglob("*.yaml")):
        for doc in load_yaml_documents(path):
            where = f"{path.name}: {doc['kind']}/{doc.get('metadata', {}).get('name')}"
            if doc["kind"] == "HorizontalPodAutoscaler":
                for metric in doc["spec"].get("metrics", []):
                    if metric["type"] in {"External", "Pods", "Object"}:
                        body = metric[metric["type"].lower()]
                        yield where, {body["metric"]["name"]}
            elif doc["kind"] == "ScaledObject":
                for trigger in doc["spec"]["triggers"]:
                    if trigger["type"] == "prometheus":
                        yield where, promql_metric_names(trigger["metadata"]["query"])
            elif doc["kind"] == "ConfigMap" and "externalRules.yaml" in doc.get("data", {}):
                rules = yaml.safe_load(doc["data"]["externalRules.yaml"])
                for rule in rules["externalRules"]:
                    yield where, promql_metric_names(rule["seriesQuery"])
                    yield where, {rule["name"]["as"]}


def test_metrics_nothing_sets_are_not_declared(allowed: frozenset[str]) -> None:
    # Consumer lag waits for its exporter, venue calls and breakers for the live venues.
    never_set = {
        "tradepipe_consumer_lag_messages",
        "tradepipe_venue_calls_total",
        "tradepipe_venue_call_seconds_bucket",
        "tradepipe_venue_breaker_open",
    }

    assert never_set & allowed == set()


def test_extractor_finds_metric_names_and_ignores_functions_and_labels() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (agent, le) (rate(foo_bucket{agent=~"$a"}[5m])))'
        " > 3 * (bar_total offset 5m) and on () time() - baz_seconds"
    )

    assert promql_metric_names(expr) == {"foo_bucket", "bar_total", "baz_seconds"}


def test_alert_rules_use_only_defined_metrics(allowed: frozenset[str]) -> None:
    unknown = {name: sorted(promql_metric_names(expr) - allowed) for name, expr in rule_exprs()}

    assert {k: v for k, v in unknown.items() if v} == {}


@pytest.mark.parametrize("path", sorted(DASHBOARDS.glob("*.json")), ids=lambda p: p.name)
def test_dashboards_use_only_defined_metrics(path: Path, allowed: frozenset[str]) -> None:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    unknown = {}
    for where, expr in dashboard_exprs(dashboard):
        names = promql_metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        if names - allowed:
            unknown[where] = sorted(names - allowed)

    assert unknown == {}


def test_autoscalers_use_only_defined_metrics(allowed: frozenset[str]) -> None:
    found = list(_autoscaler_metric_names())
    unknown = {where: sorted(names - allowed) for where, names in found if names - allowed}

    assert unknown == {}


def test_autoscaler_metric_extractor_reads_a_keda_prometheus_trigger(tmp_path: Path) -> None:
    """The shipped KEDA trigger reads Kafka, so prove on a sample that the check would bite."""
    (tmp_path / "scaled.yaml").write_text(
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: s}\n"
        "spec:\n  triggers:\n    - type: prometheus\n      metadata:\n"
        "        query: sum(tradepipe_consumer_lag_messages)\n",
        encoding="utf-8",
    )

    assert list(_autoscaler_metric_names(tmp_path)) == [
        ("scaled.yaml: ScaledObject/s", {"tradepipe_consumer_lag_messages"})
    ]
