"""``pipeline ... --plan`` prints the resolved run and leaves ledger and warehouse
byte-identical (no ledger row, no lease, no staging, no new file): window, strategy,
the SQL statements with their bound values, upstream coverage, the Kubernetes Job.
(PostgreSQL: tests/integration/postgres/test_plan.py.)"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
from pathlib import Path

import sqlalchemy as sa
import yaml

from etl_framework.load.sql.staging import list_staging
from tests.support.crash_jobs import CRASH_ENV
from tests.support.pipeline import REPO, run_pipeline
from tests.support.plan import one, statements
from tests.support.plan import snapshot as _snapshot


def test_plan_touches_nothing(tmp_path: Path) -> None:
    (tmp_path / "jobs" / "config").mkdir(parents=True)
    shutil.copy(REPO / "jobs" / "config" / "local.yaml", tmp_path / "jobs" / "config")
    config = "jobs/config/local.yaml"
    first = run_pipeline(["20240330", "demo_orders", "truncate", config], tmp_path)
    assert first.returncode == 0, first.stderr
    before = _snapshot(tmp_path / ".etl")
    assert {"state.db", "warehouse.db"} <= set(before)

    delta = run_pipeline(
        ["20240215", "demo_orders", "delta", config, "--delta_start_date", "20240210", "--plan"],
        tmp_path,
    )
    assert delta.returncode == 0, delta.stderr
    plan = yaml.safe_load(delta.stdout)
    assert plan["window"] == "20240210..20240216" and plan["strategy"] == "replace_window"
    assert plan["target"] == {"connection": "warehouse", "table": "orders"}
    assert plan["lease"]["exclusive"] is True and plan["lease"]["targets"]
    # the statements, with the window's bounds as bound values
    staging = plan["staging"].split()[0]
    assert staging.startswith("_stg_orders_") and len(staging) == len("_stg_orders_") + 8
    assert one(plan, "CREATE TABLE")["sql"].startswith(f"CREATE TABLE {staging} ( order_id ")
    rows = one(plan, f'INSERT INTO "{staging}"')  # the rows: one executemany line
    assert "params" not in rows and "rows from the source" in rows["note"]
    bounds = {"start": "2024-02-10", "end": "2024-02-16"}
    window_guard = one(plan, f'SELECT COUNT(*) FROM "{staging}" WHERE "order_date" < ?')
    assert window_guard["params"] == bounds
    delete = one(plan, "DELETE")
    assert delete["sql"] == 'DELETE FROM "orders" WHERE "order_date" >= ? AND "order_date" < ?'
    assert delete["params"] == bounds
    publish = one(plan, 'INSERT INTO "orders"')
    assert publish["sql"].endswith(f'FROM "{staging}"')
    assert one(plan, "DROP TABLE")["sql"] == f'DROP TABLE IF EXISTS "{staging}"'
    sqls = [s["sql"] for s in statements(plan)]
    assert sqls.index(delete["sql"]) < sqls.index(publish["sql"]) < len(sqls) - 1

    truncate = run_pipeline(["20240330", "demo_orders", "truncate", config, "--plan"], tmp_path)
    assert truncate.returncode == 0, truncate.stderr
    replace = yaml.safe_load(truncate.stdout)
    assert replace["strategy"] == "replace_table"
    assert one(replace, "DELETE")["sql"] == 'DELETE FROM "orders"'  # staged: target has rows

    # the view transform depends on demo_orders, whose truncate run covered ..20240330
    for day, covered in (("20240330", True), ("20240331", False)):
        view = run_pipeline([day, "demo_completed_orders", "truncate", config, "--plan"], tmp_path)
        assert view.returncode == 0, view.stderr
        planned = yaml.safe_load(view.stdout)
        [upstream] = planned["depends_on"]
        assert upstream["transfer"] == "demo_orders" and upstream["covered"] is covered
        assert ("missing" in upstream) is not covered
        assert one(planned, "CREATE VIEW")["sql"].startswith('CREATE VIEW "completed_orders" AS')

    # the Kubernetes Job of the same run, as JSON
    (tmp_path / "gke_deploy").mkdir()
    shutil.copy(REPO / "gke_deploy" / "transfers.yaml", tmp_path / "gke_deploy")
    k8s = run_pipeline(
        ["20240215", "demo_orders", "delta", config, "--plan", "--k8s", "dev", "--format", "json"],
        tmp_path,
    )
    assert k8s.returncode == 0, k8s.stderr
    job = json.loads(k8s.stdout)["kubernetes_job"]
    assert job["kind"] == "Job" and job["metadata"]["name"] == "etl-demo-orders-20240215"
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert "20240215" in container["args"] and "demo_orders" in container["args"]
    after = _snapshot(tmp_path / ".etl")
    assert {name: after[name] for name in before} == before
    # SQLite's read-only open of a WAL database (the target check every run does before
    # it touches anything) may leave an empty -wal and its -shm index; nothing else
    new = {name: digest for name, digest in after.items() if name not in before}
    assert set(new) <= {"warehouse.db-wal", "warehouse.db-shm"}
    assert new.get("warehouse.db-wal", hashlib.sha256(b"").hexdigest()) == (
        hashlib.sha256(b"").hexdigest()
    )


def test_plan_without_a_ledger_creates_none(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state:\n  url: sqlite:///{tmp_path / 'state' / 'state.db'}\n"
        f"transfers:\n  trace_delta_only:\n    trace_dir: {tmp_path / 'trace'}\n"
        "    api_token: ${API_TOKEN}\n"
    )
    result = run_pipeline(
        ["20240301", "trace_delta_only", "delta", str(config), "--plan"],
        tmp_path,
        API_TOKEN="tok-9f8e7d6c5b",
    )
    assert result.returncode == 0, result.stderr
    assert "tok-9f8e7d6c5b" not in result.stdout + result.stderr
    assert yaml.safe_load(result.stdout)["window"] == "20240301..20240302"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


def test_plan_names_the_leftover_staging_the_run_drops(tmp_path: Path) -> None:
    """A run SIGKILLed mid-load leaves its recorded staging table: ``--plan`` names it
    (YAML and JSON) touching nothing, and the next real run drops exactly that table."""
    data = tmp_path / "data"
    data.mkdir()
    warehouse = f"sqlite:///{data / 'warehouse.db'}"

    def config(name: str, **options: object) -> str:
        path = tmp_path / name
        path.write_text(
            yaml.safe_dump(
                {
                    "state": {"url": f"sqlite:///{data / 'state.db'}"},
                    "logging": {"format": "text", "progress": False},
                    "connections": {"warehouse": {"type": "sql", "url": warehouse}},
                    "transfers": {"crash_orders": {"rows": 300, **options}},
                }
            )
        )
        return str(path)

    jobs = {"ETL_JOBS_MODULES": "tests.support.crash_jobs"}
    args = ["20240112", "crash_orders", "truncate"]
    seed = run_pipeline([*args, config("seed.yaml")], tmp_path, **jobs)
    assert seed.returncode == 0, seed.stderr
    new = config("new.yaml", version=1, publish="staging")
    killed = run_pipeline([*args, new], tmp_path, **jobs, **{CRASH_ENV: "mid_load"})
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    engine = sa.create_engine(warehouse)
    try:
        with engine.connect() as conn:
            [left] = list_staging(conn, "orders")
    finally:
        engine.dispose()
    before = _snapshot(data)
    assert any(name.startswith("state.db.locks/") for name in before)  # the dead run's lock

    planned = run_pipeline([*args, new, "--plan"], tmp_path, **jobs)
    assert planned.returncode == 0, planned.stderr
    plan = yaml.safe_load(planned.stdout)
    assert plan["leftover_staging"] == [left]
    [drop] = [s for s in plan["statements"] if "runs that are gone" in s.get("note", "")]
    assert drop["note"].endswith(f"({left})")
    as_json = run_pipeline([*args, new, "--plan", "--format", "json"], tmp_path, **jobs)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["leftover_staging"] == [left]
    after = _snapshot(data)
    assert {name: after[name] for name in before} == before, "the plan changed a file"
    new_files = {name: digest for name, digest in after.items() if name not in before}
    assert set(new_files) <= {"warehouse.db-wal", "warehouse.db-shm"}, new_files

    rerun = run_pipeline([*args, new], tmp_path, **jobs)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stderr.count("left by an earlier run") == 1, rerun.stderr
    assert f"dropped staging table {left} left by an earlier run" in rerun.stderr
    engine = sa.create_engine(warehouse)
    try:
        with engine.connect() as conn:
            assert list_staging(conn, "orders") == []
    finally:
        engine.dispose()
    # and nothing is left to drop now
    again = run_pipeline([*args, new, "--plan", "--format", "json"], tmp_path, **jobs)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["leftover_staging"] == []
