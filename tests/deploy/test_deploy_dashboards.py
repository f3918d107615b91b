"""Grafana dashboards: valid JSON, unique ids, a datasource variable, PromQL that parses."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_helpers import DASHBOARDS, dashboard_exprs, require_tool, run

DASHBOARD_FILES = sorted(DASHBOARDS.glob("*.json"))
REQUIRED_TITLES = {
    "tradepipe / Pipeline overview",
    "tradepipe / Consumer lag",
    "tradepipe / Sink",
    "tradepipe / Ingress",
}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from _panels(panel.get("panels", []))


def test_the_four_dashboards_exist_with_unique_uids() -> None:
    dashboards = [_load(path) for path in DASHBOARD_FILES]
    uids = [d["uid"] for d in dashboards]

    assert {d["title"] for d in dashboards} >= REQUIRED_TITLES
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_is_tidy_grafana_json(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    dashboard = json.loads(text)

    assert text == json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n", "not formatted"
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert "id" not in dashboard or dashboard["id"] is None  # provisioning assigns ids
    assert dashboard["uid"]
    assert len(dashboard["uid"]) <= 40


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_panel_ids_are_unique_and_panels_fit_the_grid(path: Path) -> None:
    panels = list(_panels(_load(path)["panels"]))
    ids = [panel["id"] for panel in panels]

    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_every_query_goes_through_the_datasource_variable(path: Path) -> None:
    dashboard = _load(path)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}

    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in _panels(dashboard["panels"]):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
    for name, variable in variables.items():
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE, name


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_every_panel_query_parses_as_promql(path: Path, tmp_path: Path) -> None:
    """Each query becomes a recording rule, so promtool's PromQL parser checks it."""
    promtool = require_tool("promtool")
    dashboard = _load(path)
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    rules = []
    for index, (where, expr) in enumerate(dashboard_exprs(dashboard)):
        # Grafana substitutes these before the query reaches Prometheus.
        concrete = expr.replace("$__rate_interval", "1m")
        for name in sorted(variables, key=len, reverse=True):
            concrete = concrete.replace(f"${name}", ".*")
        assert "$" not in concrete, f"{where}: unknown variable in {expr!r}"
        rules.append({"record": f"dashboard:query_{index}:check", "expr": concrete})
    rule_file = tmp_path / f"{path.stem}.rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": path.stem, "rules": rules}]}))

    result = run([promtool, "check", "rules", str(rule_file)])

    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_provisioning_loads_the_dashboards_folder() -> None:
    provisioning = DASHBOARDS.parent / "deploy" / "grafana" / "provisioning"
    provider = yaml.safe_load((provisioning / "dashboards" / "tradepipe.yml").read_text())
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())

    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/tradepipe"
    assert datasource["datasources"][0]["type"] == "prometheus"
    assert re.fullmatch(r"http://prometheus:\d+", datasource["datasources"][0]["url"])
