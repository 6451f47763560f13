"""A SQLite target holds the same numeric values as PostgreSQL: exact sums on both."""

from __future__ import annotations

import decimal
from pathlib import Path

from tests.support.decimal_prices import ROWS, load, prices, typed_sums


def test_sqlite_and_postgres_hold_the_same_exact_decimals(
    postgres_url: str, tmp_path: Path
) -> None:
    records = prices(ROWS, seed=29)
    sqlite_url = f"sqlite:///{tmp_path / 'w.db'}"
    load(sqlite_url, records)
    load(postgres_url, records)
    exact = (
        sum((decimal.Decimal(str(r["price"])) for r in records), decimal.Decimal(0)),
        sum((decimal.Decimal(str(r["rate"])) for r in records), decimal.Decimal(0)),
    )
    assert typed_sums(sqlite_url) == typed_sums(postgres_url) == exact
