"""Running the generated DAGs in the Airflow venv: the checker subprocess and a DAG folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_PYTHON = REPO_ROOT / ".venv-airflow" / "bin" / "python"
CHECKER = REPO_ROOT / "tests" / "support" / "airflow_checker.py"
DAG_FILE = REPO_ROOT / "gke_deploy" / "dags" / "etl_transfers.py"
SENTINEL = "s3cr3t-sentinel-9f81"
"""A secret value present in the scheduler's environment; it must never reach a pod spec."""


def require_airflow_venv(python: Path = AIRFLOW_PYTHON) -> None:
    if not python.exists():
        pytest.fail(f"{python} is missing: run script/setup/airflow", pytrace=False)


def run_checker(
    workdir: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[dict[str, Any], str]:
    """Run airflow_checker.py in the Airflow venv; return its JSON result and its whole output."""
    require_airflow_venv()
    airflow_home = workdir / "airflow_home"
    airflow_home.mkdir(exist_ok=True)
    secrets = workdir / "secrets"
    secrets.mkdir(exist_ok=True)
    (secrets / "DB_PASSWORD").write_text(SENTINEL)
    child_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # secrets the scheduler might see; none may end up in a DAG
        "DB_PASSWORD": SENTINEL,
        "AIRFLOW_VAR_DB_PASSWORD": SENTINEL,
        "ETL_SECRETS_DIR": str(secrets),
        # the checkout under test before the venv's editable install (a worktree has its own)
        "PYTHONPATH": str(REPO_ROOT),
        **(env or {}),
    }
    proc = subprocess.run(
        [str(AIRFLOW_PYTHON), str(CHECKER), *args],
        capture_output=True,
        text=True,
        env=child_env,
        cwd=workdir,
        timeout=240,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"checker failed ({proc.returncode}):\n{output[-4000:]}"
    _, _, payload = proc.stdout.rpartition("@@JSON@@")
    return json.loads(payload), output


def dag_folder(root: Path, transfers: str) -> tuple[Path, dict[str, str]]:
    """A DAG folder holding our DAG file, and the env pointing it at ``transfers``."""
    dags = root / "dags"
    dags.mkdir(parents=True)
    shutil.copy(DAG_FILE, dags / DAG_FILE.name)
    transfers_file = root / "transfers.yaml"
    transfers_file.write_text(textwrap.dedent(transfers))
    return dags, {"ETL_TRANSFERS_FILE": str(transfers_file)}
