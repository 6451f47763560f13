"""Target names checked before the run (no service needed)."""

from __future__ import annotations

import pytest

from etl_framework import registry
from etl_framework.config import config_from_mapping
from etl_framework.load.sql.target_check import static_problems


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ("analytics.events", None),
        ("events", "table 'events' has no dataset"),
        ("analytics.ev ents", "invalid BigQuery table name 'ev ents'"),
        ("p.d.t;DROP", "invalid BigQuery table name 't;DROP'"),
    ],
)
def test_a_bigquery_target_name_is_checked_before_the_run(table: str, problem: str | None) -> None:
    job = registry.get("gcs_events_to_bigquery")
    config = config_from_mapping(
        {
            "connections": {"bigquery": {"type": "bigquery"}, "gcs": {"type": "gcs"}},
            "transfers": {"gcs_events_to_bigquery": {"source_prefix": "gs://b/p", "table": table}},
        }
    )
    problems = job.config_problems(config, job.options_from(config))
    if problem is None:
        assert problems == []
    else:
        [(path, message)] = problems
        assert path == "transfers.gcs_events_to_bigquery.table" and problem in message


@pytest.mark.parametrize(
    ("backend", "name", "problem"),
    [
        ("sqlite", "orders", None),
        ("sqlite", "main.orders", None),
        ("sqlite", "temp.orders", "temporary schema 'temp'"),
        ("sqlite", "Temporary.orders", "temporary schema 'Temporary'"),
        ("sqlite", "sales.orders", "SQLite has no schema 'sales'"),
        ("postgresql", "sales.orders", None),
        ("postgresql", "pg_temp.orders", "temporary schema 'pg_temp'"),
        ("postgresql", "pg_temp_3.orders", "temporary schema 'pg_temp_3'"),
        ("postgresql", "a.b.c", "invalid schema name 'a.b'"),
    ],
)
def test_static_target_problems(backend: str, name: str, problem: str | None) -> None:
    problems = static_problems(backend, name)
    if problem is None:
        assert problems == []
    else:
        [message] = problems
        assert problem in message


def test_a_case_only_conflict_found_while_loading_is_refused_cleanly() -> None:
    """A conflict that appears after the pre-run check: TargetCaseError (exit 3), not the
    NoSuchTableError that SQLite's case-insensitive names used to end in."""
    import sqlalchemy as sa

    from etl_framework.load.sql.schema import check_target
    from etl_framework.load.sql.target_check import TargetCaseError
    from etl_framework.mapping import FieldMapping

    engine = sa.create_engine("sqlite://")
    mapping = FieldMapping.from_tuples([("id", "order_id", "bigint primary key")])
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE orders (order_id bigint primary key)")
        assert check_target(conn, mapping, "orders").created is False
        with pytest.raises(TargetCaseError, match="'ORDERS' differs only by case") as info:
            check_target(conn, mapping, "ORDERS")
    assert info.value.exit_code == 3
    engine.dispose()
