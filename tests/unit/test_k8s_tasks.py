"""tasks.py: the invoke collection, help texts, and the dry-run paths (no cluster needed)."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
TASKS = {
    "make-docker-image",
    "test-docker-local",
    "deploy-docker-image",
    "local-deploy-gke",
    "backfill-gke",
    "fetch-credentials",
    "create-credentials-secret",
    "render-manifests",
    "check",
}


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_collection_lists_every_task_with_a_docstring() -> None:
    import tasks

    names = set(tasks.ns.task_names)
    assert names == TASKS
    for name in names:
        body = tasks.ns[name].body
        assert inspect.getdoc(body), f"{name} has no docstring (it is the --help text)"
        params = list(inspect.signature(body).parameters.values())
        assert params[0].name == "c"
        assert all(p.annotation is not inspect.Parameter.empty for p in params[1:]), name


def test_local_deploy_gke_dry_run_prints_the_job() -> None:
    result = invoke(
        "local-deploy-gke", "--env", "prod", "--execution-date", "20240115", "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    job = yaml.safe_load(result.stdout)
    assert job["kind"] == "Job" and job["metadata"]["namespace"] == "etl"
    assert job["metadata"]["name"].startswith("etl-demo-orders-20240115-")  # random suffix


def test_backfill_gke_dry_run() -> None:
    result = invoke(
        "backfill-gke", "--start", "20240101", "--end", "20240110", "-p", "3", "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    spec = yaml.safe_load(result.stdout)["spec"]
    assert (spec["completions"], spec["parallelism"]) == (10, 3)


def test_errors_end_the_task_with_their_exit_code_and_no_traceback() -> None:
    result = invoke("local-deploy-gke", "--env", "qa", "--dry-run")
    assert result.returncode == 3
    assert "unknown environment" in result.stderr and "Traceback" not in result.stderr
    bad_date = invoke("local-deploy-gke", "--execution-date", "2024-13-01", "--dry-run")
    assert bad_date.returncode == 2 and "Traceback" not in bad_date.stderr
