"""The DAGs' local profile run for real (issue 18 item 4): ``airflow dags test`` on the
demo DAG in the Airflow venv, its task running the framework's ``pipeline`` (this venv)
in a subprocess; and the local task's exit codes, through the real operator."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from etl_framework.deploy.airflow_local import LocalProfile
from tests.support.airflow_dags import (
    AIRFLOW_PYTHON,
    DAG_FILE,
    REPO_ROOT,
    dag_folder,
    require_airflow_venv,
    run_checker,
)
from tests.support.pipeline import PIPELINE, run_pipeline

pytestmark = pytest.mark.airflow

DEMO = "demo_orders"
LOCAL_CONFIG = REPO_ROOT / "jobs" / "config" / "local.yaml"
TRANSFERS_FILE = REPO_ROOT / "gke_deploy" / "transfers.yaml"
FAKE_PIPELINE = """
import json, os, sys

with open(os.environ["CHECK_OUT"], "w", encoding="utf-8") as file:
    json.dump(
        {
            "argv": sys.argv[1:],
            "cwd": os.getcwd(),
            "orchestrator_run_id": os.environ.get("ETL_ORCHESTRATOR_RUN_ID"),
        },
        file,
    )
sys.exit(int(os.environ["CHECK_EXIT"]))
"""


def table_checksum(database: Path, table: str = "orders") -> tuple[int, str]:
    """Row count and sha256 of the table's rows in primary key order."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


def airflow_cli(
    cwd: Path, env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """The ``airflow`` command of the Airflow venv."""
    require_airflow_venv()
    proc = subprocess.run(
        [str(AIRFLOW_PYTHON.with_name("airflow")), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = proc.stdout + proc.stderr
    if check:
        assert proc.returncode == 0, f"airflow {shlex.join(args)} failed:\n{output[-6000:]}"
    return proc


def dag_runs(home: Path) -> list[tuple[str, str, str, list[tuple[str, str, int]]]]:
    """(run id, state, data interval start, [(task, state, try number)]) per DAG run,
    from Airflow's metadata database."""
    with sqlite3.connect(home / "airflow.db") as meta:
        runs = meta.execute(
            "SELECT run_id, state, data_interval_start FROM dag_run ORDER BY id"
        ).fetchall()
        return [
            (
                run_id,
                state,
                start,
                meta.execute(
                    "SELECT task_id, state, try_number FROM task_instance WHERE run_id = ?",
                    (run_id,),
                ).fetchall(),
            )
            for run_id, state, start in runs
        ]


def test_the_local_task_runs_the_pods_arguments_and_retries_like_the_pod(
    tmp_path: Path,
) -> None:
    """Exit 75 (and 4, and a kill) fails the try so Airflow retries; 1/2/3 fail at once."""
    dags, env = dag_folder(tmp_path, TRANSFERS_FILE.read_text())
    run_after = "2024-01-16T05:00:00+00:00"
    pod, _ = run_checker(tmp_path, "render", str(dags), DEMO, run_after, env=env)

    fake = tmp_path / "fake_pipeline.py"
    fake.write_text(textwrap.dedent(FAKE_PIPELINE))
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "child.json"
    profile = LocalProfile(
        pipeline_command=(sys.executable, str(fake)), config="/cfg/local.yaml", cwd=str(work)
    )
    local_env = {**env, **profile.environ(), "CHECK_OUT": str(out)}
    result, _ = run_checker(
        tmp_path, "local-exit-codes", str(dags), DEMO, run_after, str(out), env=local_env
    )

    assert result["task_type"] == "ETLLocalOperator"
    assert result["retries"] == 2
    # the pod's arguments, the config aside: one place builds them
    expected = [*pod["arguments"][:3], "/cfg/local.yaml", *pod["arguments"][4:]]
    assert pod["arguments"][0] == "20240115"
    assert result["arguments"] == expected
    assert result["child"] == {
        "argv": expected,
        "cwd": str(work),
        "orchestrator_run_id": "manual__local_check",
    }
    outcome = {code: kind for code, (kind, _message) in result["outcome"].items()}
    assert outcome == {
        "0": "ok",
        "1": "AirflowFailException",
        "2": "AirflowFailException",
        "3": "AirflowFailException",
        "4": "AirflowException",
        "75": "AirflowException",
        "137": "AirflowException",
    }
    assert "75 (transient)" in result["outcome"]["75"][1]


def test_airflow_dags_test_runs_the_demo_dag_locally(tmp_path: Path) -> None:
    """A real Airflow run: the task succeeds, the table is the direct run's, and the
    ledger's run carries Airflow's run id."""
    home = tmp_path / "airflow_home"
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(DAG_FILE, dags / DAG_FILE.name)
    run_dir = tmp_path / "airflow_run"
    run_dir.mkdir()
    profile = LocalProfile(
        pipeline_command=tuple(PIPELINE), config=str(LOCAL_CONFIG), cwd=str(run_dir)
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "ETL_TRANSFERS_FILE": str(TRANSFERS_FILE),
        # the checkout under test, in Airflow's venv and in the pipeline it starts
        "PYTHONPATH": str(REPO_ROOT),
        **profile.environ(),
    }

    airflow_cli(tmp_path, env, "db", "migrate")
    logs = airflow_cli(tmp_path, env, "dags", "test", DEMO, "2024-01-16")

    ((run_id, run_state, interval_start, tasks),) = dag_runs(home)
    output = logs.stdout + logs.stderr
    assert (run_state, tasks) == ("success", [("pipeline", "success", 1)]), output[-6000:]
    day = interval_start[:10]  # the first day of the data interval is EXECUTION_DATE
    assert f"'{day.replace('-', '')}', '{DEMO}', 'delta', '{LOCAL_CONFIG}'" in output

    with sqlite3.connect(run_dir / ".etl" / "state.db") as ledger:
        runs = ledger.execute(
            "SELECT transfer, execution_date, status, orchestrator_run_id FROM etl_runs"
        ).fetchall()
    assert runs == [(DEMO, day, "succeeded", run_id)]

    direct = tmp_path / "direct"
    direct.mkdir()
    execution_date = day.replace("-", "")
    plain = run_pipeline([execution_date, DEMO, "delta", str(LOCAL_CONFIG)], cwd=direct)
    assert plain.returncode == 0, plain.stderr[-4000:]
    rows, checksum = table_checksum(run_dir / ".etl" / "warehouse.db")
    assert rows > 0
    assert (rows, checksum) == table_checksum(direct / ".etl" / "warehouse.db")
    with sqlite3.connect(direct / ".etl" / "state.db") as ledger:
        ((orchestrated,),) = ledger.execute("SELECT orchestrator_run_id FROM etl_runs").fetchall()
    assert orchestrated is None  # no orchestrator: nothing recorded


RETRY_TRANSFERS = """
defaults:
  image: europe-west2-docker.pkg.dev/test-project/etl/etl-framework
  tag: "1.4.0"
  namespace: etl
  start_date: 2024-01-01
  config: gs://cfg/config.yaml
transfers:
  - {name: demo_orders, schedule: "@daily", mode: delta, retries: 2, retry_delay_minutes: 0}
"""
FLAKY_PIPELINE = """
import os, sys
from pathlib import Path

behaviour = Path(sys.argv[4]).name  # the config argument names what to do
tries = Path(behaviour + ".tries")
tries.write_text(str(int(tries.read_text()) + 1 if tries.exists() else 1))
if behaviour == "not-ready-once":
    sys.exit(75 if tries.read_text() == "1" else 0)
sys.exit(3)  # config-error
"""


def test_airflow_retries_a_not_ready_run_and_fails_a_config_error_at_once(
    tmp_path: Path,
) -> None:
    """Real Airflow task states: exit 75 is retried (and then succeeds), exit 3 fails the
    task on its first try although retries are left."""
    home = tmp_path / "airflow_home"
    dags, transfers = dag_folder(tmp_path, RETRY_TRANSFERS)
    fake = tmp_path / "flaky_pipeline.py"
    fake.write_text(textwrap.dedent(FLAKY_PIPELINE))
    work = tmp_path / "work"
    work.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "PYTHONPATH": str(REPO_ROOT),
        **transfers,
    }
    airflow_cli(tmp_path, env, "db", "migrate")
    for day, behaviour in (("2024-01-16", "not-ready-once"), ("2024-01-20", "config-error")):
        profile = LocalProfile(
            pipeline_command=(sys.executable, str(fake)), config=f"/fake/{behaviour}", cwd=str(work)
        )
        airflow_cli(tmp_path, {**env, **profile.environ()}, "dags", "test", DEMO, day, check=False)

    (_, retried, _, retried_tasks), (_, failed, _, failed_tasks) = dag_runs(home)
    assert (retried, retried_tasks) == ("success", [("pipeline", "success", 2)])
    assert (work / "not-ready-once.tries").read_text() == "2"
    assert (failed, failed_tasks) == ("failed", [("pipeline", "failed", 1)])
    assert (work / "config-error.tries").read_text() == "1"
