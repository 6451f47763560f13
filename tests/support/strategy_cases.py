"""Strategy scenarios shared by the SQLite (unit) and PostgreSQL (integration) tests.

Each ``check_*`` function takes a SQLAlchemy URL of an empty database and fails
with an assertion when the strategy misbehaves on that dialect.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from etl_framework.connectors.sql import SqlConfig, SqlConnector
from etl_framework.exceptions import GuardError, JobError, SchemaMismatchError
from etl_framework.load.guards import GuardConfig
from etl_framework.load.sql.append import AppendStrategy
from etl_framework.load.sql.base import WriteStrategy
from etl_framework.load.sql.merge import MergeStrategy
from etl_framework.load.sql.replace_table import ReplaceTableStrategy
from etl_framework.load.sql.replace_window import ReplaceWindowStrategy
from etl_framework.load.sql.schema import build_table
from etl_framework.load.sql.staging import list_staging
from etl_framework.mapping import FieldMapping
from etl_framework.window import Window
from tests.support.ledger import FakeLedger

MAPPING = FieldMapping.from_tuples(
    [
        ("id", "id", "bigint primary key"),
        ("day", "day", "date not null"),
        ("at", "at", "timestamptz"),
        ("amount", "amount", "numeric(12,2)"),
        ("customer__name", "name", "varchar(20)"),
        ("payload", "payload", "json"),
        ("ok", "ok", "boolean"),
        ("score", "score", "double precision"),
        ("note", "note", "text"),
    ]
)
FIRST_DAY = dt.date(2024, 1, 1)


def record(i: int, version: int = 0, day: dt.date | None = None) -> dict[str, Any]:
    """A deterministic record; ``version`` changes the non-key values."""
    day = day or FIRST_DAY + dt.timedelta(days=i % 5)
    return {
        "id": i,
        "day": day.isoformat(),
        "at": f"{day.isoformat()}T{i % 24:02d}:30:00+00:00",
        "amount": f"{i * 1.25 + version:.2f}",
        "customer": {"name": f"c{i}-v{version}"},
        "payload": {"i": i, "v": version, "tags": ["a", "b"]},
        "ok": i % 2 == 0,
        "score": i / 3,
        "note": None if i % 10 == 0 else f"note {i}",
    }


def records(ids: range, version: int = 0) -> list[dict[str, Any]]:
    return [record(i, version) for i in ids]


@contextmanager
def connector(url: str) -> Iterator[SqlConnector]:
    conn = SqlConnector("warehouse", SqlConfig(url=url))  # type: ignore[arg-type]
    with conn:
        yield conn


def simulate_crash(strategy: WriteStrategy) -> None:
    """What a SIGKILL leaves: staging stays, the session holding its lock is gone."""
    lock = strategy._lock
    if lock is not None and lock._conn is not None:
        lock._conn.invalidate()  # closes the DBAPI connection: the server drops the lock
        lock._conn = None
    strategy._lock = None


def run(strategy: WriteStrategy, recs: Iterable[Mapping[str, Any]]) -> Any:
    strategy.drop_stale_staging()
    try:
        return strategy.write(strategy.mapping.rows(recs))
    finally:
        strategy.drop_staging()


def table_rows(engine: sa.Engine, table: str = "orders") -> list[tuple[Any, ...]]:
    """Every row as comparable plain values, ordered by id."""
    # through the mapping's column types, as the framework writes them (SQLite stores
    # numeric(12,2) as scaled integers: see etl_framework/load/sql/sqlite_decimal.py)
    typed = build_table(MAPPING, table)
    columns = [typed.c[name] for name in ("id", "day", "amount", "name", "ok", "note")]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).order_by(typed.c.id)).all()
    return [
        (
            r[0],
            str(r[1])[:10],
            decimal.Decimal(str(r[2])).quantize(decimal.Decimal("0.01")),
            r[3],
            bool(r[4]),
            r[5],
        )
        for r in rows
    ]


def expected_rows(recs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    out = []
    for r in sorted(recs, key=lambda r: r["id"]):
        out.append(
            (
                r["id"],
                r["day"],
                decimal.Decimal(r["amount"]),
                r["customer"]["name"],
                r["ok"],
                r["note"],
            )
        )
    return out


def staging_left(engine: sa.Engine, target: str = "orders") -> list[str]:
    with engine.connect() as conn:
        return list_staging(conn, target)


# --- scenarios ----------------------------------------------------------------


def check_replace_table(url: str) -> None:
    with connector(url) as c:
        first = records(range(50))
        result = run(ReplaceTableStrategy(c, "orders", MAPPING, run_id="run-1111"), first)
        assert result.inserted == 50
        assert table_rows(c.engine) == expected_rows(first)
        second = records(range(20, 60), version=1)
        result = run(ReplaceTableStrategy(c, "orders", MAPPING, run_id="run-2222"), second)
        assert (result.inserted, result.deleted) == (40, 50)
        assert table_rows(c.engine) == expected_rows(second)
        assert staging_left(c.engine) == []


def check_replace_window(url: str) -> None:
    with connector(url) as c:
        base = records(range(100))
        run(ReplaceTableStrategy(c, "orders", MAPPING, run_id="base"), base)
        window = Window(FIRST_DAY + dt.timedelta(days=1), FIRST_DAY + dt.timedelta(days=3))
        in_window = [
            r
            for r in records(range(100, 130), version=2)
            if window.contains(dt.date.fromisoformat(r["day"]))
        ]
        strategy = ReplaceWindowStrategy(
            c, "orders", MAPPING, run_id="delta", window=window, window_column="day"
        )
        result = run(strategy, in_window)
        kept = [r for r in base if not window.contains(dt.date.fromisoformat(r["day"]))]
        assert result.deleted == len(base) - len(kept)
        assert table_rows(c.engine) == expected_rows(kept + in_window)


def check_replace_window_timestamptz(url: str) -> None:
    mapping = FieldMapping.from_tuples(
        [("id", "id", "bigint primary key"), ("at", "at", "timestamptz not null")]
    )
    with connector(url) as c:
        rows = [{"id": i, "at": f"2024-01-0{1 + i % 3}T23:59:59+00:00"} for i in range(9)]
        run(ReplaceTableStrategy(c, "events", mapping, run_id="base"), rows)
        window = Window(dt.date(2024, 1, 2), dt.date(2024, 1, 3))
        new = [{"id": 100, "at": "2024-01-02T00:00:00Z"}]
        strategy = ReplaceWindowStrategy(
            c, "events", mapping, run_id="d1", window=window, window_column="at"
        )
        result = run(strategy, new)
        assert result.deleted == 3
        with c.engine.connect() as conn:
            ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM events ORDER BY id")]
        assert ids == [0, 2, 3, 5, 6, 8, 100]


def check_window_guard_refuses_rows_outside(url: str) -> None:
    with connector(url) as c:
        run(ReplaceTableStrategy(c, "orders", MAPPING, run_id="base"), records(range(10)))
        before = table_rows(c.engine)
        window = Window(FIRST_DAY, FIRST_DAY + dt.timedelta(days=1))
        strategy = ReplaceWindowStrategy(
            c, "orders", MAPPING, run_id="bad", window=window, window_column="day"
        )
        with pytest.raises(GuardError, match="window") as info:
            run(
                strategy, [record(500, day=FIRST_DAY), record(501, day=FIRST_DAY + dt.timedelta(2))]
            )
        assert info.value.guard == "window"
        assert table_rows(c.engine) == before


def check_merge(url: str) -> None:
    with connector(url) as c:
        base = records(range(10))
        run(MergeStrategy(c, "orders", MAPPING, run_id="m1"), base)
        upserts = records(range(5, 15), version=3)
        result = run(MergeStrategy(c, "orders", MAPPING, run_id="m2"), upserts)
        assert result.inserted == 10
        assert table_rows(c.engine) == expected_rows(base[:5] + upserts)
        # running the same merge again changes nothing
        run(MergeStrategy(c, "orders", MAPPING, run_id="m3"), upserts)
        assert table_rows(c.engine) == expected_rows(base[:5] + upserts)


def check_merge_refuses_duplicate_keys(url: str) -> None:
    with connector(url) as c:
        run(MergeStrategy(c, "orders", MAPPING, run_id="m1"), records(range(3)))
        before = table_rows(c.engine)
        with pytest.raises(GuardError, match="unique_keys") as info:
            run(MergeStrategy(c, "orders", MAPPING, run_id="m2"), [record(1), record(1, 1)])
        # the guard's own words on every backend (PostgreSQL: from the refused upsert)
        assert "1 value(s) of key (id) occur more than once" in str(info.value)
        assert table_rows(c.engine) == before


def check_merge_needs_unique_key(url: str) -> None:
    with connector(url) as c:
        no_key = sa.Table(
            "orders",
            sa.MetaData(),
            *[
                sa.Column(f.target_column, f.type.to_sqlalchemy(), nullable=f.nullable)
                for f in MAPPING.fields
            ],
        )
        no_key.create(c.engine)
        with pytest.raises(SchemaMismatchError, match="primary key or unique") as info:
            run(MergeStrategy(c, "orders", MAPPING, run_id="m1"), records(range(3)))
        assert "on exactly the key columns (id)" in str(info.value)
        # a partial unique index is no conflict target for ON CONFLICT (id): refused too
        with c.engine.begin() as conn:
            conn.exec_driver_sql("CREATE UNIQUE INDEX orders_some_ids ON orders (id) WHERE id > 0")
        with pytest.raises(SchemaMismatchError, match=r"key columns \(id\)"):
            run(MergeStrategy(c, "orders", MAPPING, run_id="m2"), records(range(3)))
        # a unique key on more columns than the keys is not "exactly the keys"
        with c.engine.begin() as conn:
            conn.exec_driver_sql("CREATE UNIQUE INDEX orders_id_day ON orders (id, day)")
        with pytest.raises(SchemaMismatchError, match=r"key columns \(id\)"):
            run(MergeStrategy(c, "orders", MAPPING, run_id="m3"), records(range(3)))
        with c.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM orders").scalar() == 0
        assert staging_left(c.engine) == []


NULLABLE_KEY = FieldMapping.from_tuples([("id", "id", "bigint"), ("v", "v", "text")])
KEY = ("id",)


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one())


def check_merge_refuses_null_keys(url: str) -> None:
    """A NULL key never matches ON CONFLICT on a nullable UNIQUE key: without the guard
    every rerun inserted the row again (1,001 -> 1,002 -> 1,003 rows)."""
    with connector(url) as c:
        with c.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (id BIGINT UNIQUE, v TEXT)")
        clean = [{"id": i, "v": "x"} for i in range(1000)]
        run(MergeStrategy(c, "t", NULLABLE_KEY, run_id="clean", key_columns=KEY), clean)
        assert _count(c.engine, "t") == 1000
        dirty = [*clean, {"id": None, "v": "no key"}]
        for attempt in range(3):
            strategy = MergeStrategy(c, "t", NULLABLE_KEY, run_id=f"null{attempt}", key_columns=KEY)
            with pytest.raises(GuardError) as info:
                run(strategy, dirty)
            assert info.value.guard == "null_keys"
            assert info.value.exit_code == 1
            assert "1 of 1001 staged rows have a NULL in the key (id)" in str(info.value)
            assert _count(c.engine, "t") == 1000
        assert staging_left(c.engine, "t") == []
        # the clean source merges, and reruns change nothing
        for attempt in range(2):
            run(
                MergeStrategy(c, "t", NULLABLE_KEY, run_id=f"again{attempt}", key_columns=KEY),
                clean,
            )
            assert _count(c.engine, "t") == 1000


def check_merge_refuses_null_in_any_key_column(url: str) -> None:
    mapping = FieldMapping.from_tuples(
        [("a", "a", "bigint"), ("b", "b", "text"), ("v", "v", "text")]
    )
    with connector(url) as c:
        with c.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE pair (a BIGINT, b TEXT, v TEXT, UNIQUE (a, b))")
        recs = [
            {"a": 1, "b": "x", "v": "1"},
            {"a": 2, "b": None, "v": "2"},
            {"a": None, "b": "y", "v": "3"},
        ]
        strategy = MergeStrategy(c, "pair", mapping, run_id="pair", key_columns=("a", "b"))
        with pytest.raises(GuardError, match=r"2 of 3 staged rows have a NULL in the key \(a, b\)"):
            run(strategy, recs)
        assert _count(c.engine, "pair") == 0


def check_append(url: str) -> None:
    mapping = FieldMapping.from_tuples([("id", "id", "bigint"), ("v", "v", "text")])
    with connector(url) as c:
        run(AppendStrategy(c, "log", mapping, run_id="a1"), [{"id": 1, "v": "x"}])
        run(AppendStrategy(c, "log", mapping, run_id="a2"), [{"id": 1, "v": "x"}])
        with c.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM log").scalar() == 2


def check_guards_leave_target_untouched(url: str) -> None:
    with connector(url) as c:
        run(ReplaceTableStrategy(c, "orders", MAPPING, run_id="base"), records(range(100)))
        before = table_rows(c.engine)
        cases: list[tuple[GuardConfig, list[dict[str, Any]], str, str]] = [
            (GuardConfig(), [], "min_rows", "0 rows staged, at least 1"),
            (GuardConfig(min_rows=50), records(range(10)), "min_rows", "10 rows staged"),
            (
                GuardConfig(min_fraction=0.9),
                records(range(80)),
                "min_fraction",
                "80 rows staged would replace 100",
            ),
        ]
        no_names = [dict(r, customer=None) for r in records(range(100))]
        cases.append((GuardConfig(), no_names, "all_null", "name"))
        duplicated = [record(1), *records(range(1, 100), version=1)]
        cases.append((GuardConfig(), duplicated, "unique_keys", "more than once"))
        for i, (guards, recs, guard, detail) in enumerate(cases):
            strategy = ReplaceTableStrategy(c, "orders", MAPPING, run_id=f"guard{i}", guards=guards)
            with pytest.raises(GuardError) as info:
                run(strategy, recs)
            assert info.value.guard == guard
            assert detail in str(info.value)
            assert table_rows(c.engine) == before
        assert staging_left(c.engine) == []
        # allowed all-NULL columns pass
        strategy = ReplaceTableStrategy(
            c, "orders", MAPPING, run_id="ok", guards=GuardConfig(all_null_allowed=("name",))
        )
        run(strategy, no_names)
        assert len(table_rows(c.engine)) == 100


def check_truncate_guard_defaults(url: str) -> None:
    """Truncate refuses by default an empty source (min_rows 1) and a collapse below half
    the current rows (min_fraction 0.5), staging and direct alike; both can be overridden.
    Delta strategies have neither default."""
    with connector(url) as c:
        run(ReplaceTableStrategy(c, "orders", MAPPING, run_id="base"), records(range(100)))
        before = table_rows(c.engine)
        for direct in (False, True):
            for recs, guard, detail in [
                ([], "min_rows", "0 rows staged, at least 1 required"),
                (records(range(49)), "min_fraction", "would replace 100 rows of table orders"),
            ]:
                strategy = ReplaceTableStrategy(
                    c, "orders", MAPPING, run_id=f"d{direct:d}{len(recs)}", direct=direct
                )
                with pytest.raises(GuardError) as info:
                    run(strategy, recs)
                assert (info.value.guard, info.value.exit_code) == (guard, 1)
                assert detail in str(info.value)
                if recs:
                    assert "49 rows staged" in str(info.value) and "(49.0% < 50%" in str(info.value)
                assert table_rows(c.engine) == before
        # exactly half passes
        run(ReplaceTableStrategy(c, "orders", MAPPING, run_id="half"), records(range(50)))
        assert len(table_rows(c.engine)) == 50
        # overrides: min_fraction 0 disables the collapse guard, a lower fraction allows
        run(
            ReplaceTableStrategy(
                c, "orders", MAPPING, run_id="low", guards=GuardConfig(min_fraction=0.1)
            ),
            records(range(10)),
        )
        assert len(table_rows(c.engine)) == 10
        run(
            ReplaceTableStrategy(
                c, "orders", MAPPING, run_id="off", guards=GuardConfig(min_fraction=0)
            ),
            records(range(1, 2)),
        )
        assert len(table_rows(c.engine)) == 1
        # an empty source empties the table only when both guards allow it
        with pytest.raises(GuardError, match="min_fraction"):
            run(
                ReplaceTableStrategy(
                    c, "orders", MAPPING, run_id="e1", guards=GuardConfig(min_rows=0)
                ),
                [],
            )
        run(
            ReplaceTableStrategy(
                c, "orders", MAPPING, run_id="e2", guards=GuardConfig(min_rows=0, min_fraction=0)
            ),
            [],
        )
        assert table_rows(c.engine) == []
        # delta strategies: no default (a small window or a few upserts are normal)
        run(MergeStrategy(c, "orders", MAPPING, run_id="m0"), records(range(100)))
        run(MergeStrategy(c, "orders", MAPPING, run_id="m1"), [])
        window = Window(FIRST_DAY, FIRST_DAY + dt.timedelta(days=1))
        run(
            ReplaceWindowStrategy(
                c, "orders", MAPPING, run_id="w", window=window, window_column="day"
            ),
            [record(5)],
        )
        assert len(table_rows(c.engine)) == 81


def check_schema_mismatch_before_data_moves(url: str) -> None:
    with connector(url) as c:
        with c.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE orders (id BIGINT PRIMARY KEY, day TEXT)")
            conn.exec_driver_sql("INSERT INTO orders VALUES (1, 'x')")
        with pytest.raises(SchemaMismatchError) as info:
            run(ReplaceTableStrategy(c, "orders", MAPPING, run_id="s1"), records(range(3)))
        message = str(info.value)
        assert "'day'" in message and "missing from the target" in message
        with c.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT * FROM orders").all() == [(1, "x")]
        assert staging_left(c.engine) == []


def check_add_missing_columns(url: str) -> None:
    small = FieldMapping.from_tuples([("id", "id", "bigint primary key"), ("a", "a", "text")])
    bigger = FieldMapping.from_tuples(
        [("id", "id", "bigint primary key"), ("a", "a", "text"), ("b", "b", "integer")]
    )
    with connector(url) as c:
        run(ReplaceTableStrategy(c, "t", small, run_id="r1"), [{"id": 1, "a": "x"}])
        with pytest.raises(SchemaMismatchError, match="add_missing_columns"):
            run(ReplaceTableStrategy(c, "t", bigger, run_id="r2"), [{"id": 1, "a": "x", "b": 2}])
        strategy = ReplaceTableStrategy(c, "t", bigger, run_id="r3", add_missing_columns=True)
        run(strategy, [{"id": 1, "a": "x", "b": 2}])
        with c.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT id, a, b FROM t").all() == [(1, "x", 2)]


def check_stale_staging_is_dropped(url: str) -> None:
    """Cleansing drops the staging the ledger recorded for a crashed run, not a live
    run's, and nothing without a ledger."""
    ledger = FakeLedger()
    with connector(url) as c:
        crashed = ReplaceTableStrategy(
            c, "orders", MAPPING, run_id="deadbeef-crashed", ledger=ledger.handle("deadbeef")
        )
        crashed.prepare()
        crashed.load(MAPPING.rows(records(range(5))))
        simulate_crash(crashed)
        assert staging_left(c.engine) == [crashed.staging]
        assert ledger.open_records() == [crashed.staging]
        unledgered = ReplaceTableStrategy(c, "orders", MAPPING, run_id="0000aaaa-none")
        assert unledgered.drop_stale_staging() == []  # NullLedger: never another's table
        live = ReplaceTableStrategy(
            c, "orders", MAPPING, run_id="cafebabe-live", ledger=ledger.handle("cafebabe")
        )
        assert live.drop_stale_staging() == []  # the crashed run still holds its lease
        ledger.end("deadbeef")
        assert live.drop_stale_staging() == [crashed.staging]
        assert staging_left(c.engine) == []
        assert ledger.open_records() == []


def check_memory_streams(url: str, rows: int = 100_000) -> None:
    """Peak Python memory while loading stays at a few batches, not the whole input."""
    import tracemalloc

    mapping = FieldMapping.from_tuples(
        [("id", "id", "bigint primary key"), ("text", "text", "text"), ("day", "day", "date")]
    )

    def generate() -> Iterator[dict[str, Any]]:
        for i in range(rows):
            yield {"id": i, "text": f"{i:>10}" * 15, "day": "2024-01-01"}

    with connector(url) as c:
        strategy = ReplaceTableStrategy(c, "wide", mapping, run_id="memory", batch_size=5_000)
        strategy.prepare()
        try:
            tracemalloc.start()
            try:
                strategy.load(mapping.rows(generate()))
                _current, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            strategy.publish()
        finally:
            strategy.drop_staging()
        with c.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM wide").scalar() == rows
    # the input alone is ~20 MB of Python objects; one batch is ~1 MB
    print(f"peak traced memory {peak / 1e6:.2f} MB")
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB: loading does not stream"


def check_direct_publish(url: str) -> None:
    """direct=True: same results and guards as staging, without a staging table."""
    with connector(url) as c:
        first = records(range(60))
        result = run(ReplaceTableStrategy(c, "orders", MAPPING, run_id="d1", direct=True), first)
        assert (result.inserted, result.deleted) == (60, 0)
        assert table_rows(c.engine) == expected_rows(first)
        window = Window(FIRST_DAY + dt.timedelta(days=1), FIRST_DAY + dt.timedelta(days=2))
        fresh = [
            r
            for r in records(range(60, 90), version=4)
            if window.contains(dt.date.fromisoformat(r["day"]))
        ]
        strategy = ReplaceWindowStrategy(
            c, "orders", MAPPING, run_id="d2", window=window, window_column="day", direct=True
        )
        result = run(strategy, fresh)
        kept = [r for r in first if not window.contains(dt.date.fromisoformat(r["day"]))]
        assert (result.inserted, result.deleted) == (len(fresh), 12)
        assert table_rows(c.engine) == expected_rows(kept + fresh)
        before = table_rows(c.engine)
        failing = [
            (
                ReplaceTableStrategy(
                    c,
                    "orders",
                    MAPPING,
                    run_id="d3",
                    direct=True,
                    guards=GuardConfig(min_fraction=0.9),
                ),
                records(range(10)),
                "min_fraction",
            ),
            (
                ReplaceTableStrategy(c, "orders", MAPPING, run_id="d4", direct=True),
                [dict(r, customer=None) for r in records(range(100))],
                "all_null",
            ),
            (
                ReplaceWindowStrategy(
                    c,
                    "orders",
                    MAPPING,
                    run_id="d5",
                    window=window,
                    window_column="day",
                    direct=True,
                ),
                [record(999, day=FIRST_DAY)],
                "window",
            ),
            (
                ReplaceTableStrategy(c, "orders", MAPPING, run_id="d7", direct=True),
                [record(1), *records(range(1, 100), version=1)],
                "unique_keys",
            ),
            (
                ReplaceWindowStrategy(
                    c,
                    "orders",
                    MAPPING,
                    run_id="d6",
                    window=window,
                    window_column="day",
                    direct=True,
                    guards=GuardConfig(min_fraction=0.5),
                ),
                fresh[:2],
                "min_fraction",
            ),
        ]
        for strategy, recs, guard in failing:
            with pytest.raises(GuardError) as info:
                run(strategy, recs)
            assert info.value.guard == guard
            assert table_rows(c.engine) == before
        assert staging_left(c.engine) == []


def _failing_source(recs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Yields ``recs``, then fails the way a source dying mid-load does."""
    yield from recs
    raise RuntimeError("source failed mid-load")


def check_key_columns_are_not_null_on_the_next_run(url: str) -> None:
    """key_columns on a nullable mapped column: the table is built with a NOT NULL key,
    and the next run's schema check must accept its own table."""
    mapping = FieldMapping.from_tuples([("id", "id", "text"), ("v", "v", "text")])
    with connector(url) as c:
        for n, version in enumerate(["x", "y"]):
            strategy = MergeStrategy(c, "kv", mapping, run_id=f"merge{n}", key_columns=["id"])
            run(strategy, [{"id": "a", "v": version}])
            strategy = ReplaceTableStrategy(
                c, "kv2", mapping, run_id=f"repl{n}", key_columns=["id"]
            )
            run(strategy, [{"id": "a", "v": version}])
        with c.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT id, v FROM kv").all() == [("a", "y")]
            assert conn.exec_driver_sql("SELECT id, v FROM kv2").all() == [("a", "y")]
            columns = {col["name"]: col for col in sa.inspect(conn).get_columns("kv")}
        assert columns["id"]["nullable"] is False
        assert columns["id"].get("autoincrement") in (False, "auto", None)
        assert columns["id"]["default"] is None


def check_failed_run_does_not_add_columns(url: str) -> None:
    """add_missing_columns: the ALTER TABLE is part of the publish; a failed run keeps
    the old schema (a guard refusing, or the source failing on the direct path)."""
    small = FieldMapping.from_tuples([("id", "id", "bigint primary key"), ("v", "v", "text")])
    bigger = FieldMapping.from_tuples(
        [("id", "id", "bigint primary key"), ("v", "v", "text"), ("w", "w", "text")]
    )
    with connector(url) as c:
        run(ReplaceTableStrategy(c, "t", small, run_id="seed"), [{"id": 1, "v": "old"}])

        def columns() -> list[str]:
            with c.engine.connect() as conn:
                return [col["name"] for col in sa.inspect(conn).get_columns("t")]

        failing: list[tuple[WriteStrategy, Any]] = [
            (
                ReplaceTableStrategy(
                    c,
                    "t",
                    bigger,
                    run_id="guard",
                    add_missing_columns=True,
                    guards=GuardConfig(min_rows=5),
                ),
                [{"id": 1, "v": "x", "w": "y"}],
            ),
            (
                ReplaceTableStrategy(
                    c, "t", bigger, run_id="direct", add_missing_columns=True, direct=True
                ),
                _failing_source([{"id": 1, "v": "x", "w": "y"}]),
            ),
            (
                MergeStrategy(c, "t", bigger, run_id="merge", add_missing_columns=True),
                _failing_source([{"id": 2, "v": "x", "w": "y"}]),
            ),
        ]
        for strategy, recs in failing:
            with pytest.raises((GuardError, RuntimeError)):
                run(strategy, recs)
            assert columns() == ["id", "v"]
            with c.engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT id, v FROM t").all() == [(1, "old")]
        # the same load succeeds and adds the column (direct asked: staging this once)
        strategy = ReplaceTableStrategy(
            c, "t", bigger, run_id="ok", add_missing_columns=True, direct=True
        )
        result = run(strategy, [{"id": 1, "v": "x", "w": "y"}])
        assert strategy.schema_check is not None
        assert strategy.schema_check.added_columns == ("w",)
        assert (result.inserted, result.deleted) == (1, 1)
        assert columns() == ["id", "v", "w"]
        assert staging_left(c.engine, "t") == []


def check_failed_first_load_leaves_no_table(url: str) -> None:
    """A target that did not exist still does not exist after a failed run, whichever
    path loaded it (direct for a full refresh, staging for a window or a merge)."""
    window = Window(FIRST_DAY, FIRST_DAY + dt.timedelta(days=5))
    with connector(url) as c:
        attempts: list[tuple[WriteStrategy, Any]] = [
            (
                ReplaceTableStrategy(c, "orders", MAPPING, run_id="direct"),
                _failing_source(records(range(3))),
            ),
            (
                ReplaceTableStrategy(
                    c, "orders", MAPPING, run_id="guard", guards=GuardConfig(min_rows=10)
                ),
                records(range(3)),
            ),
            (
                ReplaceWindowStrategy(
                    c, "orders", MAPPING, run_id="window", window=window, window_column="day"
                ),
                _failing_source(records(range(3))),
            ),
            (
                ReplaceWindowStrategy(
                    c,
                    "orders",
                    MAPPING,
                    run_id="wguard",
                    window=window,
                    window_column="day",
                    guards=GuardConfig(min_rows=10),
                ),
                records(range(3)),
            ),
            (MergeStrategy(c, "orders", MAPPING, run_id="merge"), [record(1), record(1, 1)]),
        ]
        for strategy, recs in attempts:
            with pytest.raises((GuardError, RuntimeError)):
                run(strategy, recs)
            assert not sa.inspect(c.engine).has_table("orders"), strategy.run_id
            assert staging_left(c.engine) == []
        # the first successful run creates it, with its primary key and window index
        strategy = ReplaceWindowStrategy(
            c,
            "orders",
            MAPPING,
            run_id="ok",
            window=window,
            window_column="day",
            index_columns=["day"],
        )
        run(strategy, records(range(3)))
        assert strategy.schema_check is not None and strategy.schema_check.created
        assert table_rows(c.engine) == expected_rows(records(range(3)))
        inspector = sa.inspect(c.engine)
        assert inspector.get_pk_constraint("orders")["constrained_columns"] == ["id"]
        assert [i["column_names"] for i in inspector.get_indexes("orders")] == [["day"]]


def check_foreign_keys_referencing_the_target(url: str) -> None:
    """A replace deletes and re-inserts the target's rows. Foreign keys pointing at it
    are refused before any data moves (a plain one fails every refresh, ON DELETE
    CASCADE would delete the child rows), unless deferrable NO ACTION ones."""
    from sqlalchemy import event

    mapping = FieldMapping.from_tuples([("id", "id", "bigint primary key"), ("v", "v", "text")])
    sqlite = url.startswith("sqlite")
    with connector(url) as c:
        if sqlite:  # SQLite enforces foreign keys only when asked to

            @event.listens_for(c.engine, "connect")
            def _fk_on(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.execute("PRAGMA foreign_keys = ON")

        run(ReplaceTableStrategy(c, "parent", mapping, run_id="seed"), [{"id": 1, "v": "a"}])

        def state() -> tuple[Any, ...]:
            with c.engine.connect() as conn:
                return (
                    conn.exec_driver_sql("SELECT id, v FROM parent ORDER BY id").all(),
                    conn.exec_driver_sql("SELECT COUNT(*) FROM child").scalar(),
                )

        window = Window(FIRST_DAY, FIRST_DAY + dt.timedelta(days=1))
        dated = FieldMapping.from_tuples(
            [("id", "id", "bigint primary key"), ("v", "v", "text"), ("d", "d", "date")]
        )
        refused = ["ON DELETE CASCADE", "ON DELETE SET NULL"]
        if not sqlite:  # SQLite defers every NO ACTION key (PRAGMA defer_foreign_keys)
            refused.insert(0, "")
        for action in refused:
            with c.engine.begin() as conn:
                conn.exec_driver_sql("DROP TABLE IF EXISTS child")
                conn.exec_driver_sql(
                    f"CREATE TABLE child (id int, parent_id bigint REFERENCES parent (id) {action})"
                )
                conn.exec_driver_sql("INSERT INTO child VALUES (1, 1)")
            before = state()
            for direct in (False, True):
                strategy = ReplaceTableStrategy(
                    c, "parent", mapping, run_id="refresh", direct=direct
                )
                with pytest.raises(SchemaMismatchError, match="foreign keys reference it") as info:
                    run(strategy, [{"id": 1, "v": "b"}])
                assert "child" in str(info.value) and "DEFERRABLE" in str(info.value)
                assert state() == before, action
            # a window replace deletes too
            strategy = ReplaceWindowStrategy(
                c,
                "parent",
                dated,
                run_id="w",
                window=window,
                window_column="d",
                add_missing_columns=True,
            )
            with pytest.raises(SchemaMismatchError, match="foreign keys reference it"):
                strategy.prepare_target()
        # deferrable NO ACTION: checked at the commit, against the new rows
        with c.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE child")
            conn.exec_driver_sql(
                "CREATE TABLE child (id int, parent_id bigint REFERENCES parent (id) "
                "DEFERRABLE INITIALLY IMMEDIATE)"
            )
            conn.exec_driver_sql("INSERT INTO child VALUES (1, 1)")
        for direct in (False, True):
            strategy = ReplaceTableStrategy(c, "parent", mapping, run_id="ok", direct=direct)
            run(strategy, [{"id": 1, "v": f"direct={direct}"}, {"id": 2, "v": "new"}])
            assert state() == ([(1, f"direct={direct}"), (2, "new")], 1)
        before = state()
        with pytest.raises(JobError, match="constraint"):  # key 1 is still referenced
            run(ReplaceTableStrategy(c, "parent", mapping, run_id="gone"), [{"id": 2, "v": "x"}])
        assert state() == before
        if not sqlite:
            truncate = ReplaceTableStrategy(c, "parent", mapping, run_id="t", method="truncate")
            with pytest.raises(SchemaMismatchError, match="replace_method delete"):
                run(truncate, [{"id": 1, "v": "x"}])
        # merge and append delete nothing: allowed
        run(MergeStrategy(c, "parent", mapping, run_id="m"), [{"id": 1, "v": "merged"}])
        assert state()[0][0] == (1, "merged")
