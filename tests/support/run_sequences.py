"""The run-sequence model of the write strategies, shared by the SQLite property test
(tests/unit/load/test_property.py) and its PostgreSQL twin
(tests/integration/postgres/test_load_property.py): any sequence of truncate/delta runs
(and crashed runs) over random windows of a deterministic source leaves the table one
clean truncate would."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from hypothesis import strategies as st

from etl_framework.connectors.sql import SqlConnector
from etl_framework.load.sql.replace_table import ReplaceTableStrategy
from etl_framework.load.sql.replace_window import ReplaceWindowStrategy
from etl_framework.load.sql.staging import list_staging
from etl_framework.mapping import FieldMapping
from etl_framework.window import Window
from tests.support.ledger import FakeLedger
from tests.support.strategy_cases import connector, simulate_crash

DAYS = 10
FIRST_DAY = dt.date(2024, 1, 1)
MAPPING = FieldMapping.from_tuples(
    [
        ("id", "id", "bigint primary key"),
        ("day", "day", "date not null"),
        ("version", "version", "integer not null"),
    ]
)


def source(window: Window, version: int) -> Iterator[dict[str, Any]]:
    """Deterministic: the rows of a day depend only on the day and the version."""
    for d in range(DAYS):
        day = FIRST_DAY + dt.timedelta(days=d)
        if not window.contains(day):
            continue
        for k in range((d * 7 + version * 3) % 4 + 1):
            yield {"id": d * 100 + k, "day": day, "version": version}


def window_of(start: int, length: int) -> Window:
    first = FIRST_DAY + dt.timedelta(days=start)
    return Window(first, first + dt.timedelta(days=length))


operation = st.one_of(
    st.tuples(st.just("truncate"), st.just(0), st.just(0), st.integers(0, 3)),
    st.tuples(
        st.sampled_from(["delta", "crash"]),
        st.integers(0, DAYS - 1),
        st.integers(1, 4),
        st.integers(0, 3),
    ),
)


def apply(
    c: SqlConnector, number: int, op: tuple[str, int, int, int], ledger: FakeLedger | None = None
) -> None:
    """Run ``op`` as run ``number``; with a ledger, as the runner would: a handle of its
    own, a growing fencing token, the fence claimed in cleansing."""
    kind, start, length, version = op
    run_id = f"{number:08d}"
    run: dict[str, Any] = {"run_id": run_id}
    if ledger is not None:
        run.update(ledger=ledger.handle(run_id), fence_token=number + 1)
    if kind == "truncate":
        window = Window.unbounded()
        strategy: ReplaceTableStrategy | ReplaceWindowStrategy = ReplaceTableStrategy(
            c, "t", MAPPING, guards=None, **run
        )
    else:
        window = window_of(start, length)
        strategy = ReplaceWindowStrategy(c, "t", MAPPING, window=window, window_column="day", **run)
    strategy.claim()
    strategy.drop_stale_staging()
    rows = MAPPING.rows(source(window, version))
    if kind == "crash":  # staged, never published, never cleaned up
        strategy.prepare()
        strategy.load(rows)
        simulate_crash(strategy)
        if ledger is not None:
            ledger.end(run_id)  # died: its lease is gone
        return
    try:
        strategy.write(rows)
    finally:
        strategy.drop_staging()
        if ledger is not None:
            ledger.end(run_id, succeeded=True)


def table(c: SqlConnector) -> list[tuple[Any, ...]]:
    """The target's rows; a target no run published is not even created."""
    with c.engine.connect() as conn:
        if not sa.inspect(conn).has_table("t"):
            return []
        return [
            tuple(r) for r in conn.exec_driver_sql("SELECT id, day, version FROM t ORDER BY id")
        ]


def expected(ops: list[tuple[str, int, int, int]]) -> list[tuple[Any, ...]]:
    """The model: each day holds the rows of the last successful run covering it."""
    latest: dict[int, int | None] = dict.fromkeys(range(DAYS))
    for kind, start, length, version in ops:
        if kind == "truncate":
            latest = dict.fromkeys(range(DAYS), version)
        elif kind == "delta":
            for d in range(start, min(start + length, DAYS)):
                latest[d] = version
    rows = []
    for d, version in latest.items():
        if version is None:
            continue
        for r in source(window_of(d, 1), version):
            rows.append((r["id"], r["day"].isoformat(), r["version"]))
    return sorted(rows)


def check(url: str, ops: list[tuple[str, int, int, int]]) -> None:
    ledger = FakeLedger()
    with connector(url) as c:
        for number, op in enumerate(ops):
            apply(c, number, op, ledger)
        got = [(i, str(day)[:10], v) for i, day, v in table(c)]
        assert got == expected(ops)
        if all(kind == "crash" for kind, *_ in ops):  # "did not exist" is kept too
            assert not sa.inspect(c.engine).has_table("t")
        # the next run's pre_execution_cleansing removes what crashed runs left
        cleanup = ReplaceTableStrategy(
            c, "t", MAPPING, run_id="cleanup!", ledger=ledger.handle("cleanup!")
        )
        cleanup.drop_stale_staging()
        with c.engine.connect() as conn:
            assert list_staging(conn, "t") == []
