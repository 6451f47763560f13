"""``pipeline --plan`` without a service: a new SQLite warehouse and ledger (nothing is
created), JSON output, the flags that only go with --plan, and the coverage check the
plan shares with the runner."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from etl_framework.cli import main
from etl_framework.load.planned import planned, step
from etl_framework.state.store import uncovered_part
from etl_framework.window import Window

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text(
        "state: {url: 'sqlite:///.etl/state.db'}\n"
        "connections:\n  warehouse: {type: sql, url: 'sqlite:///.etl/warehouse.db'}\n"
        f"transfers:\n  demo_orders: {{source: '{REPO / 'jobs/data/demo_orders.csv.gz'}'}}\n"
    )
    return tmp_path


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def test_first_load_into_a_new_warehouse_creates_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(
        ["20240115", "demo_orders", "truncate", "config.yaml", "--plan", "--format", "json"],
        capsys,
    )
    assert code == 0, err
    plan = json.loads(out)
    assert plan["depends_on"] == []
    sqls = [s["sql"] for s in plan["statements"] if "sql" in s]
    # no target yet: created and loaded directly in one transaction, no staging
    assert sqls[0].startswith("CREATE TABLE orders (") and "PRIMARY KEY" in sqls[0]
    assert 'DELETE FROM "orders"' in sqls
    assert any(s.startswith('INSERT INTO "orders" (') and "VALUES (?" in s for s in sqls)
    assert not any("_stg_" in s for s in sqls)
    assert sorted(p.name for p in workdir.iterdir()) == ["config.yaml"]


def test_the_job_of_the_run(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "gke_deploy").mkdir()
    shutil.copy(REPO / "gke_deploy" / "transfers.yaml", workdir / "gke_deploy")
    args = ["20240115", "demo_orders", "delta", "config.yaml", "--plan", "--format", "json"]
    code, out, err = run_main([*args, "--k8s", "prod"], capsys)
    assert code == 0, err
    job = json.loads(out)["kubernetes_job"]
    assert job["metadata"]["labels"]["etl-framework.io/env"] == "prod"
    assert job["metadata"]["annotations"]["etl-framework.io/execution-date"] == "20240115"
    # the transfers file runs demo_orders in delta mode: a truncate plan is refused
    code, _out, err = run_main([*args[:2], "truncate", *args[3:], "--k8s", "prod"], capsys)
    assert code == 3 and "runs 'demo_orders' in delta mode in prod, not truncate" in err


@pytest.mark.parametrize("flag", [["--k8s", "dev"], ["--format", "json"]])
def test_plan_flags_need_plan(
    workdir: Path, capsys: pytest.CaptureFixture[str], flag: list[str]
) -> None:
    code, _out, err = run_main(
        ["20240115", "demo_orders", "truncate", "config.yaml", *flag], capsys
    )
    assert code == 2 and "--k8s and --format go with --plan" in err
    assert sorted(p.name for p in workdir.iterdir()) == ["config.yaml"]


def test_uncovered_part_is_the_runners_check() -> None:
    d = dt.date
    needed = Window(d(2024, 1, 3), d(2024, 1, 6))
    delta = (d(2024, 1, 1), d(2024, 1, 4), d(2024, 1, 3))  # window [1st, 4th)
    truncate = (None, None, d(2024, 1, 4))  # covers every day up to the 4th
    assert uncovered_part([], needed) == needed
    assert uncovered_part([delta], needed) == Window(d(2024, 1, 4), d(2024, 1, 6))
    assert uncovered_part([delta, truncate], needed) == Window(d(2024, 1, 5), d(2024, 1, 6))
    later = (d(2024, 1, 5), d(2024, 1, 7), d(2024, 1, 6))
    assert uncovered_part([delta, truncate, later], needed) is None


def test_planned_statements_keep_values_apart() -> None:
    statement = sa.text("DELETE FROM t WHERE d >= :start AND d < :end").bindparams(
        sa.bindparam("start", dt.date(2024, 1, 2), type_=sa.Date),
        sa.bindparam("end", dt.date(2024, 1, 4), type_=sa.Date),
    )
    lite = planned(statement, sqlite.dialect(), "publish")
    assert lite.sql == "DELETE FROM t WHERE d >= ? AND d < ?" and lite.order == ("start", "end")
    assert lite.as_dict() == {
        "sql": lite.sql,
        "params": {"start": "2024-01-02", "end": "2024-01-04"},
        "note": "publish",
    }
    pg = planned(statement, postgresql.psycopg.dialect())
    assert pg.sql == "DELETE FROM t WHERE d >= %(start)s::DATE AND d < %(end)s::DATE"
    assert step("COMMIT").as_dict() == {"note": "COMMIT"}
