"""The fused COPY path (record -> row -> COPY buffer in one loop) on a real PostgreSQL:
the same values, the same refusals and the same error messages as `FieldMapping.extract`.
"""

from __future__ import annotations

import decimal
from typing import Any

import pytest
import sqlalchemy as sa

from etl_framework.load.sql.merge import MergeStrategy
from etl_framework.load.sql.replace_table import ReplaceTableStrategy
from etl_framework.mapping import FieldMapping, FieldValueError, MappedRows
from tests.support.strategy_cases import connector, run

pytestmark = pytest.mark.postgres

D = decimal.Decimal
MAPPING = FieldMapping.from_tuples(
    [
        ("id", "id", "bigint primary key"),
        ("amount", "amount", "numeric(12,2)"),
        ("payload", "payload", "json"),
        ("note", "note", "text"),
    ]
)
# ties both ways, many places, exponents, the largest values that still fit
AMOUNTS: list[Any] = [
    D("1.005"),
    D("-1.005"),
    D("2.675"),
    D("0.004999"),
    D("-0.005"),
    D("9999999999.994"),
    D("-9999999999.99499999"),
    D("1E+3"),
    D("123.4567890123456789"),
    D("-0"),
    D("5E-3"),
    2.675,
    "1.005",
    7,
    None,
]


def _records() -> list[dict[str, Any]]:
    return [
        {"id": i, "amount": a, "payload": {"i": i} if i % 2 else None, "note": f"n{i}"}
        for i, a in enumerate(AMOUNTS)
    ]


def _stored(engine: sa.Engine, table: str = "t") -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.exec_driver_sql(
                f"SELECT id, amount, payload, note FROM {table} ORDER BY id"
            ).all()
        ]


def _expected() -> list[tuple[Any, ...]]:
    return [MAPPING.extract(r) for r in _records()]


@pytest.mark.parametrize("column", ["numeric(12,2)", "numeric(18,2)", "numeric", "numeric(14,4)"])
def test_numeric_values_equal_the_mappings_rounding(postgres_url: str, column: str) -> None:
    """Whether PostgreSQL rounds (a column of the mapping's scale) or Python does (any
    other numeric column), the stored values are exactly what `extract` returns."""
    with connector(postgres_url) as c:
        with c.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS t")
            conn.exec_driver_sql(
                f"CREATE TABLE t (id bigint PRIMARY KEY, amount {column}, payload jsonb, note text)"
            )
        if column == "numeric(14,4)":
            with pytest.raises(Exception, match="numeric"):  # refused by the schema check
                run(ReplaceTableStrategy(c, "t", MAPPING, run_id="r1"), _records())
            return
        MAPPING._variants.clear()
        rows = MAPPING.rows(_records())
        assert isinstance(rows, MappedRows)
        strategy = ReplaceTableStrategy(c, "t", MAPPING, run_id="r1")
        strategy.drop_stale_staging()
        try:
            strategy.write(rows)  # empty target: loaded directly
        finally:
            strategy.drop_staging()
        stored = _stored(c.engine)
        # the COPY extractor left rounding to the column where it has the mapping's scale
        rounded = {key[0] for key in MAPPING._variants}
        assert (frozenset({"amount"}) in rounded) is (column != "numeric")
        assert [(r[0], r[1]) for r in stored] == [(e[0], e[1]) for e in _expected()]
        if column == "numeric":
            # nothing rounds in the database: the values carry the mapping's scale
            assert all(r[1] is None or r[1].as_tuple().exponent == -2 for r in stored)
        assert [r[2] for r in stored] == [e[2] for e in _expected()]
        # through staging (a target with rows) and through a merge: the same values
        run(ReplaceTableStrategy(c, "t", MAPPING, run_id="r2"), _records())
        assert _stored(c.engine) == stored
        run(MergeStrategy(c, "t", MAPPING, run_id="r3"), _records())
        assert _stored(c.engine) == stored


@pytest.mark.parametrize(
    "bad",
    [D("9999999999.995"), D("-9999999999.995"), D("1E+10"), D("NaN"), D("sNaN"), D("-Infinity")],
)
def test_numeric_refusals_are_the_mappings(postgres_url: str, bad: decimal.Decimal) -> None:
    """A value that would overflow numeric(12,2) after rounding, or is not finite, is
    refused before the database sees it, with extract's message and the record named."""
    records = [*_records()[:3], {"id": 99, "amount": bad, "payload": None, "note": None}]
    with pytest.raises(FieldValueError) as expected:
        list(MAPPING.rows(records))
    with connector(postgres_url) as c:
        with c.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS t")
        with pytest.raises(FieldValueError) as info:
            run(ReplaceTableStrategy(c, "t", MAPPING, run_id="bad"), records)
        assert str(info.value) == str(expected.value)
        assert str(info.value).startswith("record 4 (id=99): column 'amount': ")
        with c.engine.connect() as conn:
            assert not sa.inspect(conn).has_table("t")  # the load's transaction rolled back


def test_a_started_iterator_takes_the_row_path(postgres_url: str) -> None:
    """Rows already being read (or not from a mapping) are written row by row: the same."""
    with connector(postgres_url) as c:
        with c.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS t")
        rows = MAPPING.rows(_records())
        first = next(rows)
        strategy = ReplaceTableStrategy(c, "t", MAPPING, run_id="s1")
        try:
            strategy.write(iter([first, *rows]))
        finally:
            strategy.drop_staging()
        assert [(r[0], r[1]) for r in _stored(c.engine)] == [(e[0], e[1]) for e in _expected()]
