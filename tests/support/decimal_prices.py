"""Exact numeric(p,s) data shared by the SQLite decimal tests
(tests/unit/load/test_sqlite_decimal.py) and the SQLite-vs-PostgreSQL comparison
(tests/integration/postgres/test_exact_decimals.py)."""

from __future__ import annotations

import decimal
import random

import sqlalchemy as sa

from etl_framework.load.sql.replace_table import ReplaceTableStrategy
from etl_framework.load.sql.schema import build_table
from etl_framework.mapping import FieldMapping
from tests.support.strategy_cases import connector, run

MAPPING = FieldMapping.from_tuples(
    [
        ("id", "id", "bigint primary key"),
        ("price", "price", "numeric(12,2)"),
        ("rate", "rate", "numeric(30,10)"),
        ("free", "free", "numeric"),
    ]
)
ROWS = 200_000


def prices(n: int, seed: int = 13) -> list[dict[str, str | int]]:
    rng = random.Random(seed)
    return [
        {
            "id": i,
            "price": f"{rng.randrange(0, 10_000_000) / 100:.2f}",
            "rate": f"{rng.randrange(10**12)}.{rng.randrange(10**10):010d}",
            "free": f"0.{rng.randrange(10**20):020d}",
        }
        for i in range(n)
    ]


def load(url: str, records: list[dict[str, str | int]]) -> None:
    with connector(url) as c:
        run(ReplaceTableStrategy(c, "prices", MAPPING, run_id="dec"), records)


def typed_sums(url: str) -> tuple[decimal.Decimal, decimal.Decimal]:
    table = build_table(MAPPING, "prices")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.sum(table.c.price))).scalar_one()
            rates = conn.execute(sa.select(table.c.rate)).scalars().all()
    finally:
        engine.dispose()
    return total, sum(rates, decimal.Decimal(0))
