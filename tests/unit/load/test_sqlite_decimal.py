"""Exact numeric(p,s) on SQLite: stored as scaled integers (or text), read as Decimal."""

from __future__ import annotations

import decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl_framework.exceptions import SchemaMismatchError
from tests.support.decimal_prices import ROWS, load, prices, typed_sums


def test_sum_of_200k_prices_on_sqlite_is_the_exact_decimal_sum(tmp_path: Path) -> None:
    records = prices(ROWS)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    load(url, records)
    exact = sum((decimal.Decimal(str(r["price"])) for r in records), decimal.Decimal(0))
    total, rates = typed_sums(url)
    assert total == exact and str(total).endswith(str(exact)[-6:])
    assert rates == sum((decimal.Decimal(str(r["rate"])) for r in records), decimal.Decimal(0))
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        # what SQLite holds: integer cents (so SUM in plain SQL is exact too), decimal text
        kinds = conn.exec_driver_sql(
            "SELECT DISTINCT typeof(price), typeof(rate), typeof(free) FROM prices"
        ).all()
        assert kinds == [("integer", "text", "text")]
        raw_sum = conn.exec_driver_sql("SELECT SUM(price) FROM prices").scalar_one()
        assert decimal.Decimal(raw_sum).scaleb(-2) == exact
        # a reflected table reads the same exact values
        reflected = sa.Table("prices", sa.MetaData(), autoload_with=conn)
        first = conn.execute(sa.select(reflected).where(reflected.c.id == 7)).one()
    engine.dispose()
    expected = records[7]
    assert first == (
        7,
        decimal.Decimal(str(expected["price"])),
        decimal.Decimal(str(expected["rate"])),
        decimal.Decimal(str(expected["free"])),
    )


def test_a_sqlite_table_holding_floats_is_refused_not_written_into(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE prices (id BIGINT PRIMARY KEY, price NUMERIC(12,2),"
            " rate NUMERIC(30,10), free NUMERIC)"
        )
        conn.exec_driver_sql("INSERT INTO prices VALUES (1, 0.1, 0.2, 0.3)")
    engine.dispose()
    with pytest.raises(SchemaMismatchError, match=r"column 'price'.*stores binary floats"):
        load(url, prices(3))
