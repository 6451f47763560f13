"""Every write strategy on a real PostgreSQL (same scenarios as the SQLite unit tests)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from etl_framework.exceptions import ConfigError
from etl_framework.load.replace_table import ReplaceTableStrategy
from etl_framework.mapping import FieldMapping
from tests.unit.load import cases

SCENARIOS = [getattr(cases, name) for name in dir(cases) if name.startswith("check_")]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.removeprefix("check_"))
def test_strategy_on_postgres(postgres_url: str, scenario: Callable[[str], None]) -> None:
    scenario(postgres_url)


def test_copy_round_trips_every_type(postgres_url: str) -> None:
    """Binary COPY writes dates, timestamptz, decimals, JSON, booleans and NULLs exactly."""
    with cases.connector(postgres_url) as c:
        assert c.supports("copy") and c.supports("merge")
        recs = [cases.record(1), {"id": 2, "day": "2024-02-29"}]
        cases.run(ReplaceTableStrategy(c, "orders", cases.MAPPING, run_id="types"), recs)
        with c.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT id, day, at, amount, name, payload, ok, score, note FROM orders ORDER BY id"
            ).all()
            types = dict(
                conn.exec_driver_sql(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = 'orders'"
                ).all()
            )
    first, second = rows
    assert first == (
        1,
        dt.date(2024, 1, 2),
        dt.datetime(2024, 1, 2, 1, 30, tzinfo=dt.UTC),
        decimal.Decimal("1.25"),
        "c1-v0",
        {"i": 1, "v": 0, "tags": ["a", "b"]},
        False,
        pytest.approx(1 / 3),
        "note 1",
    )
    assert second == (2, dt.date(2024, 2, 29), None, None, None, None, None, None, None)
    assert types["at"] == "timestamp with time zone"
    assert types["amount"] == "numeric"
    assert types["payload"] == "jsonb"


def test_staging_is_unlogged_and_named_after_run(postgres_url: str) -> None:
    with cases.connector(postgres_url) as c:
        strategy = ReplaceTableStrategy(c, "orders", cases.MAPPING, run_id="0123abcd-ffff")
        strategy.prepare()
        try:
            assert strategy.staging == "_stg_orders_0123abcd"
            with c.engine.connect() as conn:
                persistence = conn.execute(
                    sa.text("SELECT relpersistence FROM pg_class WHERE relname = :n"),
                    {"n": strategy.staging},
                ).scalar()
            assert persistence == "u"
        finally:
            strategy.drop_staging()


def test_live_runs_staging_survives_another_runs_cleanup(postgres_url: str) -> None:
    """The advisory lock keeps a parallel run's staging safe from pre_execution_cleansing."""
    with cases.connector(postgres_url) as c:
        live = ReplaceTableStrategy(c, "orders", cases.MAPPING, run_id="aaaaaaaa-live")
        live.prepare()
        try:
            other = ReplaceTableStrategy(c, "orders", cases.MAPPING, run_id="bbbbbbbb-new")
            assert other.drop_stale_staging() == []
            assert cases.staging_left(c.engine) == [live.staging]
        finally:
            live.drop_staging()
        assert other.drop_stale_staging() == []
        assert cases.staging_left(c.engine) == []


@pytest.mark.parametrize(
    "table",
    [
        'orders"; DROP TABLE canary; --',
        "orders; DROP TABLE canary",
        "a.b.c",
        "1orders",
        "",
        "x" * 64,
        "orders\x00",
    ],
)
def test_hostile_table_names_are_rejected(postgres_url: str, table: str) -> None:
    with cases.connector(postgres_url) as c:
        with c.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE canary (id int)")
        with pytest.raises(ConfigError, match="invalid"):
            cases.run(ReplaceTableStrategy(c, table, cases.MAPPING, run_id="h"), [])
        assert sa.inspect(c.engine).get_table_names() == ["canary"]


def test_odd_but_valid_names_are_quoted(postgres_url: str) -> None:
    """Upper case and reserved words are valid identifiers; quoting keeps them exact."""
    mapping = FieldMapping.from_tuples(
        [("id", "id", "bigint primary key"), ("s", "select", "text"), ("u", "Upper", "json")]
    )
    with cases.connector(postgres_url) as c:
        cases.run(
            ReplaceTableStrategy(c, "Order", mapping, run_id="q"),
            [{"id": 1, "s": "x", "u": {"k": "'; DROP TABLE x; --"}}],
        )
        with c.engine.connect() as conn:
            row = conn.exec_driver_sql('SELECT id, "select", "Upper" FROM "Order"').one()
    assert row == (1, "x", {"k": "'; DROP TABLE x; --"})
    assert json.dumps(row[2])  # the hostile value went in as data, not SQL


def test_generic_executemany_path_on_postgres(postgres_url: str) -> None:
    """The batched executemany used for dialects without a fast path, on a second dialect."""
    from etl_framework.load.bulk import executemany_rows
    from etl_framework.load.schema import build_table, create_table

    with cases.connector(postgres_url) as c:
        with c.engine.begin() as conn:
            create_table(conn, build_table(cases.MAPPING, "generic"))
            count = executemany_rows(
                conn,
                "generic",
                cases.MAPPING.columns,
                [f.type for f in cases.MAPPING.fields],
                cases.MAPPING.rows(cases.records(range(25))),
                batch_size=10,
            )
        assert count == 25
        assert cases.table_rows(c.engine, "generic") == cases.expected_rows(
            cases.records(range(25))
        )
        with c.engine.connect() as conn:
            payload, at = conn.exec_driver_sql("SELECT payload, at FROM generic WHERE id = 3").one()
        assert payload == {"i": 3, "v": 0, "tags": ["a", "b"]}
        assert at == dt.datetime(2024, 1, 4, 3, 30, tzinfo=dt.UTC)
