"""Target table checks against a real PostgreSQL, before the ledger is touched.

An unknown schema was found only while loading (after the run was recorded), a
``pg_temp`` target vanished with the connection, and ``ORDERS`` next to an existing
``orders`` ended in a NoSuchTableError traceback or a second table.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.hostile import ledger_rows
from tests.support.pipeline import run_pipeline


def _run(tmp_path: Path, url: str, table: str) -> tuple[int, list[str]]:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state: {{url: 'sqlite:///{tmp_path / 'state.db'}'}}\n"
        f"connections:\n  warehouse: {{type: sql, url: '{url}'}}\n"
        f"transfers:\n  demo_orders: {{table: '{table}'}}\n"
    )
    result = run_pipeline(["20240115", "demo_orders", "truncate", str(config)], cwd=tmp_path)
    return result.returncode, result.stderr.splitlines()


def setup_table(setup: str) -> str:
    """``schema.table`` created by a setup statement."""
    name = setup.rpartition("CREATE TABLE ")[2].split(" ")[0]
    return name if "." in name else f"public.{name}"


def _ledger_rows(tmp_path: Path) -> int | None:
    return ledger_rows(tmp_path / "state.db")


@pytest.mark.parametrize(
    ("table", "setup", "message"),
    [
        ("sales.orders", None, "schema 'sales' of target 'sales.orders' does not exist"),
        ("pg_temp.orders", None, "'pg_temp.orders' is in the temporary schema 'pg_temp'"),
        (
            "ORDERS",
            "CREATE TABLE orders (order_id bigint)",
            "target table 'ORDERS' differs only by case from the existing table 'orders'",
        ),
        (
            "sales.Orders",
            "CREATE SCHEMA sales; CREATE TABLE sales.orders (order_id bigint)",
            "target table 'sales.Orders' differs only by case from the existing table "
            "'sales.orders'",
        ),
    ],
)
def test_a_bad_target_is_refused_before_the_run(
    tmp_path: Path, postgres_url: str, table: str, setup: str | None, message: str
) -> None:
    engine = sa.create_engine(postgres_url)
    if setup:
        with engine.begin() as conn:
            conn.exec_driver_sql(setup)
    code, lines = _run(tmp_path, postgres_url, table)
    assert code == 3, lines
    [line] = lines
    assert line.startswith("pipeline: error: invalid config ") and message in line, line
    assert _ledger_rows(tmp_path) is None
    with engine.connect() as conn:  # nothing was created in the warehouse
        tables = conn.exec_driver_sql(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).scalars()
        assert sorted(tables) == sorted(
            {"public.orders"}
            if setup and "public" not in setup and "sales" not in setup
            else {"sales.orders"}
            if setup and "sales" in setup
            else set()
        )
    engine.dispose()


def test_only_the_exact_name_of_an_existing_mixed_case_table_is_used(
    tmp_path: Path, postgres_url: str
) -> None:
    code, lines = _run(tmp_path, postgres_url, "Orders")  # created with its case kept
    assert code == 0, lines[-3:]
    code, lines = _run(tmp_path, postgres_url, "orders")  # would be a second table
    assert code == 3 and "differs only by case from the existing table 'Orders'" in lines[0]
    code, lines = _run(tmp_path, postgres_url, "Orders")  # the exact name: no conflict
    assert code == 0, lines[-3:]
    assert _ledger_rows(tmp_path) == 2
