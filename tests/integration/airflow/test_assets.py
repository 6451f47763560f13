"""Data-aware scheduling (issue 14 item 4), checked with real Airflow: each transfer's
task updates its asset; a transform's DAG waits for its upstreams' assets."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from tests.support.airflow_dags import REPO_ROOT, dag_folder, run_checker

pytestmark = pytest.mark.airflow

TRANSFERS = """
defaults:
  image: europe-west2-docker.pkg.dev/test-project/etl/etl-framework
  tag: "1.4.0"
  namespace: etl
  start_date: 2024-01-01
  config: gs://cfg/config.yaml
transfers:
  - name: orders
    schedule: "@daily"
    mode: truncate
    target: warehouse/orders
  - name: customers
    schedule: "@daily"
    mode: truncate
  - name: completed_orders
    mode: truncate
    target: warehouse/completed_orders
    depends_on: [orders, customers]
    schedule_on_upstream: true
  - name: monthly_report
    schedule: "@monthly"
    end_date: 2024-12-01
    catchup: true
    mode: truncate
    depends_on: [completed_orders]
    schedule_on_upstream: true
  - name: checked_only
    schedule: "@daily"
    mode: truncate
    depends_on: [orders]
  - {name: raw_files, group: nightly, stage: 0, schedule: "0 2 * * *", mode: truncate}
  - {name: ingest_a, group: nightly, stage: 1, mode: truncate}
  - {name: ingest_b, group: nightly, stage: 1, mode: truncate}
  - {name: transform_ab, group: nightly, stage: 2, mode: truncate, depends_on: [ingest_a]}
"""

JOBS = """
from etl_framework import register

@register("orders")
class A: ...

@register("customers")
class B: ...

@register("completed_orders")
class C: ...

@register("monthly_report")
class D: ...

@register("checked_only")
class E: ...

@register("raw_files")
class F: ...

@register("ingest_a")
class G: ...

@register("ingest_b")
class H: ...

@register("transform_ab")
class I: ...
"""


def test_outlets_and_asset_schedules(tmp_path: Path) -> None:
    dags, env = dag_folder(tmp_path, TRANSFERS)
    jobs = tmp_path / "pkgs" / "jobs"
    jobs.mkdir(parents=True)
    (jobs / "__init__.py").write_text("")
    (jobs / "all.py").write_text(textwrap.dedent(JOBS))
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "pkgs"), str(REPO_ROOT)])
    result, _ = run_checker(tmp_path, "assets", str(dags), env=env)
    assert result["import_errors"] == {}
    orders, customers = result["orders"], result["customers"]
    assert orders["tasks"]["pipeline"]["outlets"] == ["etl://warehouse/orders"]
    assert customers["tasks"]["pipeline"]["outlets"] == ["etl://transfer/customers"]
    completed = result["completed_orders"]
    assert completed["timetable"] == "AssetTriggeredTimetable"
    assert completed["schedule_assets"] == ["etl://transfer/customers", "etl://warehouse/orders"]
    args = completed["tasks"]["pipeline"]["arguments"]
    assert args[-4:] == ["--depends-on", "orders", "--depends-on", "customers"]
    report = result["monthly_report"]
    assert report["timetable"] == "AssetOrTimeSchedule"
    assert report["schedule_assets"] == ["etl://warehouse/completed_orders"]
    assert (report["end_date"], report["catchup"]) == ("2024-12-01T00:00:00+00:00", True)
    checked = result["checked_only"]
    assert checked["schedule_assets"] == []
    assert checked["tasks"]["pipeline"]["arguments"][-2:] == ["--depends-on", "orders"]


def test_a_group_is_one_dag_with_stages_and_spacers(tmp_path: Path) -> None:
    dags, env = dag_folder(tmp_path, TRANSFERS)
    jobs = tmp_path / "pkgs" / "jobs"
    jobs.mkdir(parents=True)
    (jobs / "__init__.py").write_text("")
    (jobs / "all.py").write_text(textwrap.dedent(JOBS))
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "pkgs"), str(REPO_ROOT)])
    result, _ = run_checker(tmp_path, "assets", str(dags), env=env)
    assert "raw_files" not in result and "ingest_a" not in result
    nightly = result["nightly"]
    assert nightly["summary"] == "0 2 * * *"
    tasks = nightly["tasks"]
    assert {name: task["upstream"] for name, task in tasks.items()} == {
        "raw_files": [],
        "stage_0_done": ["raw_files"],
        "ingest_a": ["stage_0_done"],
        "ingest_b": ["stage_0_done"],
        "stage_1_done": ["ingest_a", "ingest_b"],
        "transform_ab": ["stage_1_done"],
    }
    assert tasks["ingest_b"]["outlets"] == ["etl://transfer/ingest_b"]
    assert tasks["transform_ab"]["arguments"][1:3] == ["transform_ab", "truncate"]
