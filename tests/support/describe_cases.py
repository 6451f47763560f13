"""``WriteStrategy.describe`` against a real run: the cases shared by the SQLite (unit)
and PostgreSQL (integration) tests.

`check_case` describes a strategy against the database as it is (read-only), then runs
an identical strategy there, capturing every statement SQLAlchemy sends
(``before_cursor_execute``). The planned statements, with their bound values, must be
the run's statements in the same order, once the target inspection (catalog queries,
the empty-target probe, COPY's column types), transaction control and the staging
table's session lock are left out; the rows themselves go through the DBAPI (COPY or
executemany) and are one planned line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from etl_framework.load.guards import GuardConfig
from etl_framework.load.planned import PlannedStatement
from etl_framework.load.sql.append import AppendStrategy
from etl_framework.load.sql.base import WriteStrategy
from etl_framework.load.sql.merge import MergeStrategy
from etl_framework.load.sql.replace_table import ReplaceTableStrategy
from etl_framework.load.sql.replace_window import ReplaceWindowStrategy
from etl_framework.load.sql.schema import add_column_sql
from etl_framework.load.sql.target_check import read_only_engine
from etl_framework.mapping import Field, FieldMapping
from etl_framework.window import Window, WriteMode
from tests.support import strategy_cases as cases

RUN_ID = "0f1e2d3c-plan-test"
WINDOW = Window.for_run(WriteMode.DELTA, dt.date(2024, 1, 3), dt.date(2024, 1, 2))
GUARDS = GuardConfig(min_fraction=0.1, all_null_allowed=("note",))
Build = Callable[[Any, FieldMapping], WriteStrategy]


def _not_planned(sql: str) -> bool:
    """The target inspection (catalog queries, the empty-target probe, COPY's column
    types), transaction control (the plan's BEGIN/COMMIT are steps; the merge's
    savepoint on PostgreSQL is part of its publish step) and the staging
    table's session lock (PostgreSQL)."""
    lowered = " ".join(sql.lower().split())
    return (
        lowered in ("begin", "commit", "rollback")
        or lowered.startswith(("savepoint ", "release savepoint ", "rollback to savepoint "))
        or "pg_catalog" in lowered
        or "pg_attribute" in lowered
        or "from pg_constraint" in lowered
        or "information_schema" in lowered
        or lowered.startswith(("show ", "select current_schema", "select pg_advisory_"))
        or "sqlite_master" in lowered
        or "sqlite_temp_master" in lowered
        or lowered == "pragma foreign_keys"
        or lowered.startswith("pragma main.")
        or lowered.startswith("pragma temp.")
        or (lowered.startswith("select 1 from") and lowered.endswith("limit 1"))
    )


def _records() -> list[dict[str, Any]]:
    """Days 2024-01-02 and 2024-01-03: inside `WINDOW`."""
    return [cases.record(i, day=dt.date(2024, 1, 2 + i % 2)) for i in range(1, 41)]


def _executed(url: str, build: Build, mapping: FieldMapping) -> list[tuple[str, list[str]]]:
    seen: list[tuple[str, list[str]]] = []
    with cases.connector(url) as connector:

        def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
            values = list(params.values()) if isinstance(params, dict) else list(params or ())
            seen.append((" ".join(statement.split()), [str(v) for v in values]))

        sa.event.listen(connector.engine, "before_cursor_execute", capture)
        strategy = build(connector, mapping)
        strategy.drop_stale_staging()
        try:
            strategy.write(mapping.rows(_records()))
        finally:
            strategy.drop_staging()
    return [(sql, params) for sql, params in seen if not _not_planned(sql)]


def _planned(url: str, build: Build, mapping: FieldMapping) -> list[PlannedStatement]:
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    exists = backend != "sqlite" or Path(parsed.database or "").is_file()
    engine = read_only_engine(url, backend, {}) if exists else None
    with cases.connector(url) as connector:
        strategy = build(connector, mapping)
        if engine is None:
            return strategy.describe(None, sa.make_url(url).get_dialect()())
        try:
            with engine.connect() as conn:
                return strategy.describe(conn, conn.dialect)
        finally:
            engine.dispose()


def _as_run(planned: list[PlannedStatement]) -> list[tuple[str, list[str]]]:
    """The planned SQL statements as the driver receives them (steps and rows left out)."""
    out = []
    for p in planned:
        if not p.sql or "rows from the source" in p.note:
            continue
        names = p.order or tuple(p.params)
        out.append((" ".join(p.sql.split()), [str(p.params[n]) for n in names]))
    return out


def _seed(url: str, ids: range = range(100, 131)) -> None:
    with cases.connector(url) as connector:
        cases.run(
            ReplaceTableStrategy(connector, "orders", cases.MAPPING, run_id="seed"),
            [cases.record(i) for i in ids],
        )


def _common(**extra: Any) -> dict[str, Any]:
    return {"run_id": RUN_ID, "guards": GUARDS, "index_columns": ("day",), **extra}


CASES: dict[str, tuple[bool, Build]] = {
    "replace_window": (
        True,
        lambda c, m: ReplaceWindowStrategy(
            c, "orders", m, window=WINDOW, window_column="day", **_common()
        ),
    ),
    "replace_window_direct": (
        True,
        lambda c, m: ReplaceWindowStrategy(
            c, "orders", m, window=WINDOW, window_column="day", direct=True, **_common()
        ),
    ),
    "replace_table": (True, lambda c, m: ReplaceTableStrategy(c, "orders", m, **_common())),
    "replace_table_first_load": (
        False,
        lambda c, m: ReplaceTableStrategy(c, "orders", m, **_common()),
    ),
    "merge": (True, lambda c, m: MergeStrategy(c, "orders", m, **_common())),
    "append_new_ids": (
        False,
        lambda c, m: AppendStrategy(c, "orders", m, **_common(guards=GuardConfig())),
    ),
}


def check_case(url: str, case: str) -> list[PlannedStatement]:
    """Plan then run ``case`` on the empty database at ``url``; the plan is the run."""
    seeded, build = CASES[case]
    if seeded:
        _seed(url)
    plan = _planned(url, build, cases.MAPPING)
    executed = _executed(url, build, cases.MAPPING)
    _same(_as_run(plan), executed)
    assert len(executed) >= 3
    assert any("rows from the source" in p.note for p in plan)
    text = "\n".join(p.sql for p in plan)
    if case.startswith("replace_window"):
        # the window's bounds are bound values of the DELETE
        (delete,) = [p for p in plan if p.sql.startswith("DELETE")]
        assert delete.params == {"start": dt.date(2024, 1, 2), "end": dt.date(2024, 1, 4)}
        assert delete.as_dict()["params"] == {"start": "2024-01-02", "end": "2024-01-04"}
    if "direct" in case or "first_load" in case:
        assert "_stg_orders_" not in text  # no staging: straight into the target
    else:
        assert "TABLE _stg_orders_0f1e2d3c (" in text
        assert 'DROP TABLE IF EXISTS "_stg_orders_0f1e2d3c"' in text
    return plan


def check_added_columns(url: str) -> None:
    """A column the target lacks: its ALTER TABLE is planned, and executed, as built."""
    _seed(url)
    wider = FieldMapping((*cases.MAPPING.fields, Field("extra", "extra", "text")))

    def build(c: Any, m: FieldMapping) -> WriteStrategy:
        guards = GuardConfig(all_null_allowed=("note", "extra"))
        return ReplaceTableStrategy(
            c, "orders", m, add_missing_columns=True, **_common(guards=guards)
        )

    plan = _planned(url, build, wider)
    engine = sa.create_engine(url)
    alter = add_column_sql(engine.dialect, "orders", wider, "extra")
    engine.dispose()
    assert alter in [p.sql for p in plan]
    _same(_as_run(plan), _executed(url, build, wider))


def _same(planned: list[tuple[str, list[str]]], executed: list[tuple[str, list[str]]]) -> None:
    """(support modules get no assertion rewriting: say what differs)"""
    if planned != executed:
        import difflib

        diff = difflib.unified_diff(
            [repr(p) for p in planned], [repr(e) for e in executed], "planned", "executed"
        )
        raise AssertionError("\n".join(diff))
