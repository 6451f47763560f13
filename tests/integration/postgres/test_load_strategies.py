"""Every write strategy on a real PostgreSQL (same scenarios as the SQLite unit tests)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from etl_framework.exceptions import ConfigError, SchemaMismatchError
from etl_framework.load.sql.replace_table import ReplaceTableStrategy
from etl_framework.mapping import FieldMapping
from tests.support import strategy_cases

SCENARIOS = [
    getattr(strategy_cases, name) for name in dir(strategy_cases) if name.startswith("check_")
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.removeprefix("check_"))
def test_strategy_on_postgres(postgres_url: str, scenario: Callable[[str], None]) -> None:
    scenario(postgres_url)


def test_copy_round_trips_every_type(postgres_url: str) -> None:
    """Binary COPY writes dates, timestamptz, decimals, JSON, booleans and NULLs exactly."""
    with strategy_cases.connector(postgres_url) as c:
        assert c.supports("copy") and c.supports("merge")
        recs = [strategy_cases.record(1), {"id": 2, "day": "2024-02-29"}]
        strategy_cases.run(
            ReplaceTableStrategy(c, "orders", strategy_cases.MAPPING, run_id="types"), recs
        )
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
    with strategy_cases.connector(postgres_url) as c:
        strategy = ReplaceTableStrategy(c, "orders", strategy_cases.MAPPING, run_id="0123abcd-ffff")
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
    with strategy_cases.connector(postgres_url) as c:
        live = ReplaceTableStrategy(c, "orders", strategy_cases.MAPPING, run_id="aaaaaaaa-live")
        live.prepare()
        try:
            other = ReplaceTableStrategy(c, "orders", strategy_cases.MAPPING, run_id="bbbbbbbb-new")
            assert other.drop_stale_staging() == []
            assert strategy_cases.staging_left(c.engine) == [live.staging]
        finally:
            live.drop_staging()
        assert other.drop_stale_staging() == []
        assert strategy_cases.staging_left(c.engine) == []


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
    with strategy_cases.connector(postgres_url) as c:
        with c.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE canary (id int)")
        with pytest.raises(ConfigError, match="invalid"):
            strategy_cases.run(
                ReplaceTableStrategy(c, table, strategy_cases.MAPPING, run_id="h"), []
            )
        assert sa.inspect(c.engine).get_table_names() == ["canary"]


def test_odd_but_valid_names_are_quoted(postgres_url: str) -> None:
    """Upper case and reserved words are valid identifiers; quoting keeps them exact."""
    mapping = FieldMapping.from_tuples(
        [("id", "id", "bigint primary key"), ("s", "select", "text"), ("u", "Upper", "json")]
    )
    with strategy_cases.connector(postgres_url) as c:
        strategy_cases.run(
            ReplaceTableStrategy(c, "Order", mapping, run_id="q"),
            [{"id": 1, "s": "x", "u": {"k": "'; DROP TABLE x; --"}}],
        )
        with c.engine.connect() as conn:
            row = conn.exec_driver_sql('SELECT id, "select", "Upper" FROM "Order"').one()
    assert row == (1, "x", {"k": "'; DROP TABLE x; --"})
    assert json.dumps(row[2])  # the hostile value went in as data, not SQL


def test_generic_executemany_path_on_postgres(postgres_url: str) -> None:
    """The batched executemany used for dialects without a fast path, on a second dialect."""
    from etl_framework.load.sql.bulk import executemany_rows
    from etl_framework.load.sql.schema import build_table, create_table

    with strategy_cases.connector(postgres_url) as c:
        with c.engine.begin() as conn:
            create_table(conn, build_table(strategy_cases.MAPPING, "generic"))
            count = executemany_rows(
                conn,
                "generic",
                strategy_cases.MAPPING.columns,
                [f.type for f in strategy_cases.MAPPING.fields],
                strategy_cases.MAPPING.rows(strategy_cases.records(range(25))),
                batch_size=10,
            )
        assert count == 25
        assert strategy_cases.table_rows(c.engine, "generic") == strategy_cases.expected_rows(
            strategy_cases.records(range(25))
        )
        with c.engine.connect() as conn:
            payload, at = conn.exec_driver_sql("SELECT payload, at FROM generic WHERE id = 3").one()
        assert payload == {"i": 3, "v": 0, "tags": ["a", "b"]}
        assert at == dt.datetime(2024, 1, 4, 3, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("ddl", "spec", "value", "stored"),
    [
        ("bigint", "integer", 7, 7),
        ("bigint", "smallint", 7, 7),
        ("integer", "smallint", 7, 7),
        ("real", "float", 1.5, 1.5),
        ("json", "json", {"a": [1, "x"]}, {"a": [1, "x"]}),
        ("varchar(50)", "varchar(10)", "abc", "abc"),
        ("text", "varchar(10)", "abc", "abc"),
        ("numeric(14,2)", "numeric(12,2)", "1.25", decimal.Decimal("1.25")),
    ],
)
@pytest.mark.parametrize("direct", [False, True])
@pytest.mark.parametrize("empty", [True, False])
def test_copy_into_compatible_target_types(
    postgres_url: str, ddl: str, spec: str, value: object, stored: object, direct: bool, empty: bool
) -> None:
    """The schema check accepts a compatible type (integer into bigint...); COPY straight
    into the target (publish direct, or a first load into an existing empty table) must
    send the target's own binary types, not the mapping's."""
    mapping = FieldMapping.from_tuples([("id", "id", "integer primary key"), ("v", "v", spec)])
    with strategy_cases.connector(postgres_url) as c:
        with c.engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE TABLE t (id bigint PRIMARY KEY, v {ddl})")
            if not empty:
                conn.exec_driver_sql("INSERT INTO t (id) VALUES (99)")
        strategy = ReplaceTableStrategy(c, "t", mapping, run_id="compat", direct=direct)
        result = strategy_cases.run(strategy, [{"id": 1, "v": value}])
        assert (result.inserted, result.deleted) == (1, 0 if empty else 1)
        with c.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT id, v FROM t").all() == [(1, stored)]


def test_created_integer_key_is_not_serial(postgres_url: str) -> None:
    """An integer primary key built from the mapping has no sequence default."""
    with strategy_cases.connector(postgres_url) as c:
        strategy_cases.run(
            ReplaceTableStrategy(c, "orders", strategy_cases.MAPPING, run_id="k"),
            [strategy_cases.record(1)],
        )
        with c.engine.connect() as conn:
            default, sequence = conn.exec_driver_sql(
                "SELECT column_default, pg_get_serial_sequence('orders', 'id') "
                "FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'id'"
            ).one()
    assert (default, sequence) == (None, None)


@pytest.mark.parametrize("exists", [True, False])
def test_direct_load_never_truncates(postgres_url: str, exists: bool) -> None:
    """replace_method truncate on an empty (or missing) target goes the direct way: no
    ACCESS EXCLUSIVE lock may be held while rows stream in (readers would wait)."""
    mapping = FieldMapping.from_tuples([("id", "id", "bigint primary key"), ("v", "v", "text")])
    locks: list[list[str]] = []
    other = sa.create_engine(postgres_url)
    with strategy_cases.connector(postgres_url) as c:
        if exists:
            with c.engine.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE t (id bigint PRIMARY KEY, v text)")

        def records() -> Iterator[dict[str, object]]:
            for i in range(3):
                if i == 2:
                    with other.connect() as conn:
                        locks.append(
                            conn.exec_driver_sql(
                                "SELECT mode FROM pg_locks l JOIN pg_class r ON r.oid = l.relation "
                                "WHERE r.relname = 't' AND l.granted"
                            )
                            .scalars()
                            .all()
                        )
                yield {"id": i, "v": "x"}

        strategy = ReplaceTableStrategy(c, "t", mapping, run_id="trunc", method="truncate")
        try:
            result = strategy_cases.run(strategy, records())
        finally:
            other.dispose()
    assert result.inserted == 3
    assert locks and "AccessExclusiveLock" not in locks[0], locks


def test_column_spelled_differently_is_reported_before_data_moves(postgres_url: str) -> None:
    """PostgreSQL: "Amount" is not amount; the check says so instead of the INSERT failing."""
    mapping = FieldMapping.from_tuples([("id", "id", "bigint primary key"), ("a", "Amount", "int")])
    with strategy_cases.connector(postgres_url) as c:
        with c.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (id bigint PRIMARY KEY, amount int)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1, 1)")
        with pytest.raises(SchemaMismatchError, match="'Amount' is spelled 'amount'"):
            strategy_cases.run(
                ReplaceTableStrategy(c, "t", mapping, run_id="case"), [{"id": 2, "a": 2}]
            )
        with c.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT * FROM t").all() == [(1, 1)]
        assert strategy_cases.staging_left(c.engine, "t") == []
