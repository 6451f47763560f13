"""``pipeline --plan`` against a PostgreSQL warehouse: the statements as PostgreSQL gets
them (COPY, ``%(start)s::DATE`` bounds), and the warehouse and the ledger unchanged:
same tables and rows, no staging, no fence row, no lock left."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from tests.support.pipeline import run_pipeline
from tests.support.plan import one, snapshot, statements


def _warehouse(url: str) -> dict[str, Any]:
    """Every table and view of the database, with an MD5 of its rows."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            names = conn.exec_driver_sql(
                "SELECT table_schema, table_name, table_type FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
            ).all()
            out: dict[str, Any] = {}
            for schema, table, kind in names:
                rows = "md5(string_agg(t::text, ',' ORDER BY t::text))"
                digest = conn.exec_driver_sql(
                    f'SELECT COUNT(*), {rows} FROM "{schema}"."{table}" t'
                ).one()
                out[f"{schema}.{table}"] = (kind, tuple(digest))
            out["locks"] = conn.exec_driver_sql(
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory'"
            ).scalar()
            return out
    finally:
        engine.dispose()


def test_plan_on_postgres_touches_nothing(tmp_path: Path, postgres_url: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state: {{url: 'sqlite:///{tmp_path / 'state.db'}'}}\n"
        f"connections:\n  warehouse: {{type: sql, url: '{postgres_url}'}}\n"
        "transfers:\n  demo_orders: {table: orders}\n"
    )
    first = run_pipeline(["20240330", "demo_orders", "truncate", str(config)], tmp_path)
    assert first.returncode == 0, first.stderr
    warehouse, ledger = _warehouse(postgres_url), snapshot(tmp_path)
    assert "public.orders" in warehouse and "public.etl_fence" in warehouse

    delta = run_pipeline(
        [
            "20240215",
            "demo_orders",
            "delta",
            str(config),
            "--delta_start_date",
            "20240210",
            "--plan",
        ],
        tmp_path,
    )
    assert delta.returncode == 0, delta.stderr
    plan = yaml.safe_load(delta.stdout)
    staging = plan["staging"].split()[0]
    assert staging.startswith("_stg_orders_")
    assert one(plan, "CREATE UNLOGGED TABLE")["sql"].startswith(
        f"CREATE UNLOGGED TABLE {staging} ("
    )
    copy = one(plan, "COPY")
    assert copy["sql"].startswith(f'COPY "{staging}" ("order_id", ') and "rows from" in copy["note"]
    delete = one(plan, "DELETE")
    assert delete["sql"] == (
        'DELETE FROM "orders" WHERE "order_date" >= %(start)s::DATE '
        'AND "order_date" < %(end)s::DATE'
    )
    assert delete["params"] == {"start": "2024-02-10", "end": "2024-02-16"}
    assert one(plan, 'INSERT INTO "orders"')["sql"].endswith(f'FROM "{staging}"')
    assert statements(plan)[-1]["sql"] == f'DROP TABLE IF EXISTS "{staging}"'

    truncate = run_pipeline(
        ["20240330", "demo_orders", "truncate", str(config), "--plan"], tmp_path
    )
    assert truncate.returncode == 0, truncate.stderr
    assert one(yaml.safe_load(truncate.stdout), "DELETE")["sql"] == 'DELETE FROM "orders"'

    assert _warehouse(postgres_url) == warehouse
    assert snapshot(tmp_path) == ledger
