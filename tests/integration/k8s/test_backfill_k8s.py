"""``etlctl backfill ... --only-missing --k8s dev`` creates one Indexed Job for exactly the
missing days through the launcher and the real kubernetes client (a kubeconfig pointing
at the stand-in API server), follows it, and exits with the Job's outcome."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from etl_framework.deploy.manifests import execution_date_from_list
from etl_framework.state import RunStore
from tests.support.fake_apiserver import Scenario, fake_apiserver
from tests.support.pipeline import pipeline_env
from tests.support.report_ledger import add_run, sqlite_ledger

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "k8s"
ETLCTL = [sys.executable, "-c", "from etl_framework.admin import main; main()"]
TRANSFERS = str(REPO / "gke_deploy" / "transfers.yaml")
D = dt.date(2024, 3, 1)


def state(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    fx = json.loads((FIXTURES / f"{name}.json").read_text())
    return fx["job"], fx["pods"]


def setup(tmp_path: Path) -> Path:
    """A ledger where 20240303 already succeeded; returns the config."""
    url = sqlite_ledger(tmp_path / "state.db")
    store = RunStore(url)
    add_run(store, "demo_orders", D + dt.timedelta(days=2))
    store.close()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state:\n  url: {url}\nconnections:\n  warehouse:\n    type: sql\n"
        f"    url: sqlite:///{tmp_path / 'dw.db'}\n"
    )
    return config


def kubeconfig(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": url}}],
                "users": [{"name": "fake", "user": {}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
                "current-context": "fake",
            }
        )
    )
    return path


def backfill(tmp_path: Path, config: Path, url: str) -> subprocess.CompletedProcess[str]:
    args = ["backfill", str(config), "demo_orders", "20240301", "20240305", "--only-missing"]
    args += ["--k8s", "dev", "--transfers-file", TRANSFERS, "--parallel", "3"]
    env = pipeline_env(KUBECONFIG=str(kubeconfig(tmp_path, url)))
    env["ETL_JOBS_MODULES"] = "jobs"
    env.pop("KUBERNETES_SERVICE_HOST", None)  # never the in-cluster config
    return subprocess.run(
        [*ETLCTL, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )


def test_only_the_missing_days_become_one_indexed_job(tmp_path: Path) -> None:
    config = setup(tmp_path)
    scenario = Scenario(states=[state("running"), state("succeeded")], any_job_name=True)
    scenario.logs["etl-demo-orders-20240115-k3x9q-r4n5g"] = "1200 rows written\n"
    with fake_apiserver(scenario) as url:
        result = backfill(tmp_path, config, url)
    assert result.returncode == 0, result.stderr + result.stdout
    (job,) = scenario.created
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 3)
    assert job["metadata"]["name"].startswith("etl-demo-orders-20240301-backfill-")
    assert job["metadata"]["namespace"] == "etl-dev"
    (container,) = spec["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    listed = env["ETL_BACKFILL_DAYS"]
    # what each pod's exec-index runs: exactly the four missing days, 20240303 not again
    picked = [execution_date_from_list(listed, i) for i in range(spec["completions"])]
    assert picked == ["20240301", "20240302", "20240304", "20240305"]
    assert f"created Job etl-dev/{job['metadata']['name']}" in result.stdout
    assert "1200 rows written" in result.stdout
    assert "Job succeeded" in result.stdout
    assert scenario.deleted == []


def test_a_failed_index_fails_the_backfill_with_its_exit_code(tmp_path: Path) -> None:
    config = setup(tmp_path)
    scenario = Scenario(states=[state("indexed_failed_index")], any_job_name=True)
    with fake_apiserver(scenario) as url:
        result = backfill(tmp_path, config, url)
    assert result.returncode == 1, result.stderr + result.stdout  # the index's pipeline code
    assert len(scenario.created) == 1
    assert "error: Job Failed" in result.stderr
    assert "amount_eur" in result.stderr


def test_nothing_missing_creates_no_job(tmp_path: Path) -> None:
    config = setup(tmp_path)
    scenario = Scenario(states=[state("running")], any_job_name=True)
    args = ["backfill", str(config), "demo_orders", "20240303", "20240303", "--only-missing"]
    args += ["--k8s", "dev", "--transfers-file", TRANSFERS]
    with fake_apiserver(scenario) as url:
        env = pipeline_env(KUBECONFIG=str(kubeconfig(tmp_path, url)), ETL_JOBS_MODULES="jobs")
        result = subprocess.run(
            [*ETLCTL, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
    assert result.returncode == 0, result.stderr
    assert "nothing to backfill" in result.stderr
    assert scenario.created == [] and scenario.requests == []
