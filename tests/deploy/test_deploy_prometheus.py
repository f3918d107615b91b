"""Prometheus and Alertmanager configuration: promtool, amtool, and the alert conventions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_helpers import (
    ALERTMANAGER_CONFIG,
    OPERATIONS_DOC,
    PROMETHEUS_DIR,
    REPO,
    RULES_FILE,
    load_yaml_documents,
    markdown_anchors,
    require_tool,
    run,
)

RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))

# The alerts the operations guide promises (docs/operations.md#alerts).
EXPECTED_ALERTS = {
    "TradepipeSinkBehind",
    "TradepipeSinkStalled",
    "TradepipeDLQRecords",
    "TradepipeAgentErrors",
    "TradepipeRejectionRateSpike",
    "TradepipeProcessingP99High",
    "TradepipeTradingHalted",
    "TradepipeIngress5xx",
    "TradepipeIngressAuthFailureBurst",
    "TradepipeTargetDown",
}


def _alerts() -> list[dict[str, Any]]:
    groups = load_yaml_documents(RULES_FILE)[0]["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_accepts_the_compose_scrape_config() -> None:
    promtool = require_tool("promtool")

    result = run([promtool, "check", "config", str(PROMETHEUS_DIR / "prometheus.yml")])

    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_kubernetes_scrape_config(tmp_path: Path) -> None:
    """Debian's promtool is built without Kubernetes discovery; then check the rest of it.

    In that case each kubernetes_sd_configs block is swapped for a static target, so the
    relabelling rules (the part we wrote) are still parsed and checked by promtool.
    """
    promtool = require_tool("promtool")
    config = PROMETHEUS_DIR / "prometheus-k8s.yml"

    result = run([promtool, "check", "config", str(config)])
    if "field kubernetes_sd_configs not found" in result.stdout + result.stderr:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        for scrape in data["scrape_configs"]:
            assert scrape.pop("kubernetes_sd_configs")[0]["role"] == "pod"
            scrape["static_configs"] = [{"targets": ["pod.invalid:9100"]}]
        substitute = tmp_path / "prometheus-k8s.yml"
        substitute.write_text(yaml.safe_dump(data), encoding="utf-8")
        result = run([promtool, "check", "config", str(substitute)])

    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_rules() -> None:
    promtool = require_tool("promtool")

    result = run([promtool, "check", "rules", str(RULES_FILE)])

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda p: p.name)
def test_promtool_rule_unit_tests_pass(test_file: Path) -> None:
    promtool = require_tool("promtool")

    result = run([promtool, "test", "rules", test_file.name], cwd=test_file.parent)

    assert result.returncode == 0, result.stdout + result.stderr


def test_every_promised_alert_exists() -> None:
    names = [alert["alert"] for alert in _alerts()]

    assert len(names) == len(set(names)), "duplicate alert names"
    assert set(names) == EXPECTED_ALERTS


def test_every_alert_has_severity_summary_description_and_a_runbook_anchor() -> None:
    anchors = markdown_anchors(OPERATIONS_DOC)

    for alert in _alerts():
        name = alert["alert"]
        assert alert["labels"]["severity"] in {"critical", "warning"}, name
        annotations = alert["annotations"]
        assert annotations["summary"].strip(), name
        assert annotations["description"].strip(), name
        path, _, anchor = annotations["runbook_url"].partition("#")
        assert (REPO / path).resolve() == OPERATIONS_DOC, name
        assert anchor == name.lower(), name
        assert anchor in anchors, f"{name}: docs/operations.md has no section #{anchor}"


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for test_file in RULE_TESTS:
        spec = load_yaml_documents(test_file)[0]
        for case in spec["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else silent).add(check["alertname"])

    names = {alert["alert"] for alert in _alerts()}
    assert names - fired == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested staying silent"


def test_amtool_accepts_the_alertmanager_config() -> None:
    amtool = require_tool("amtool")

    result = run([amtool, "check-config", str(ALERTMANAGER_CONFIG)])

    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_routes_every_severity_the_rules_use() -> None:
    config = load_yaml_documents(ALERTMANAGER_CONFIG)[0]
    routed = {
        match.group(1)
        for route in config["route"].get("routes", [])
        for matcher in route.get("matchers", [])
        if (match := re.fullmatch(r'severity="(\w+)"', matcher))
    }

    assert {alert["labels"]["severity"] for alert in _alerts()} <= routed


def test_operations_guide_links_resolve() -> None:
    text = OPERATIONS_DOC.read_text(encoding="utf-8")
    anchors = markdown_anchors(OPERATIONS_DOC)

    for anchor in re.findall(r"\]\(#([^)]+)\)", text):
        assert anchor in anchors, f"docs/operations.md links to missing #{anchor}"
    for target in re.findall(r"\]\(([^)#:]+\.md)\)", text):
        if target != "runbook-sink.md":  # written by the sink's owner, on its own branch
            assert (OPERATIONS_DOC.parent / target).is_file(), target
