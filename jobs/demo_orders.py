"""Demo orders: the shipped CSV of ~100k orders into the warehouse table ``orders``.

truncate rebuilds the whole table; delta replaces only the window's order days.
Either way the new rows go to a staging table first and are published in one
transaction, so readers never see an empty or half-written table.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from etl_framework import ETLJob, Outcome, WriteMode, register
from etl_framework.connectors.sql import SqlConnector

DEFAULT_SOURCE = str(Path(__file__).parent / "data" / "demo_orders.csv.gz")
BATCH_ROWS = 10_000
STAGING_PREFIX = "_stg_orders_"

metadata = sa.MetaData()


def orders_table(name: str) -> sa.Table:
    return sa.Table(
        name, sa.MetaData(),
        sa.Column("order_id", sa.BigInteger, primary_key=True),
        sa.Column("order_date", sa.Date, nullable=False, index=name == "orders"),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customer_id", sa.String(16), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("sku", sa.String(16), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
    )


class DemoOrdersOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = DEFAULT_SOURCE
    """Path of the gzip CSV export."""
    target: str = "warehouse"
    """Name of the ``type: sql`` connection to load into."""
    table: str = "orders"


@register("demo_orders")
class DemoOrdersJob(ETLJob):
    """Demo: ~100k shipped orders into the SQLite warehouse table ``orders``."""

    options_model = DemoOrdersOptions
    allow_parallel_windows = False

    @property
    def options(self) -> DemoOrdersOptions:
        assert isinstance(self.context.options, DemoOrdersOptions)
        return self.context.options

    @property
    def warehouse(self) -> SqlConnector:
        return self.context.connections.get(self.options.target, SqlConnector)

    @property
    def staging_name(self) -> str:
        return STAGING_PREFIX + self.context.run_id.replace("-", "")[:12]

    def pre_execution_cleansing(self) -> None:
        """Drop staging tables left by crashed runs (never a live run's)."""
        inspector = sa.inspect(self.warehouse.engine)
        for name in inspector.get_table_names():
            run_id = name.removeprefix(STAGING_PREFIX)
            if name.startswith(STAGING_PREFIX) and not self.context.is_active_run(run_id):
                self.context.logger.info("dropping leftover staging table %s", name)
                orders_table(name).drop(self.warehouse.engine, checkfirst=True)

    def pipeline(self) -> None:
        engine = self.warehouse.engine
        target = orders_table(self.options.table)
        staging = orders_table(self.staging_name)
        target.create(engine, checkfirst=True)
        staging.create(engine)
        with engine.begin() as conn:
            batch: list[dict[str, Any]] = []
            for row in self._source_rows():
                batch.append(row)
                if len(batch) >= BATCH_ROWS:
                    conn.execute(staging.insert(), batch)
                    self.context.counters.add_written(len(batch))
                    batch = []
            if batch:
                conn.execute(staging.insert(), batch)
                self.context.counters.add_written(len(batch))
        self._publish(target, staging)

    def _publish(self, target: sa.Table, staging: sa.Table) -> None:
        """Replace the table (truncate) or the window's days (delta) in one transaction."""
        window = self.context.window
        delete = target.delete()
        if self.context.mode is WriteMode.DELTA:
            delete = delete.where(
                target.c.order_date >= window.start, target.c.order_date < window.end
            )
        with self.warehouse.engine.begin() as conn:
            removed = conn.execute(delete).rowcount
            inserted = conn.execute(target.insert().from_select(staging.c, sa.select(staging))).rowcount
        self.context.logger.info(
            "published %s rows into %s (replaced %s)", inserted, target.name, removed
        )

    def post_execution_cleanup(self, outcome: Outcome) -> None:
        orders_table(self.staging_name).drop(self.warehouse.engine, checkfirst=True)

    def _source_rows(self) -> Iterator[dict[str, Any]]:
        window = self.context.window
        with gzip.open(self.options.source, "rb") as raw:
            for record in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")):
                self.context.counters.add_read()
                day = dt.date.fromisoformat(record["order_date"])
                if not window.contains(day):
                    continue
                yield {
                    **record,
                    "order_id": int(record["order_id"]),
                    "order_date": day,
                    "ordered_at": dt.datetime.fromisoformat(record["ordered_at"]),
                    "quantity": int(record["quantity"]),
                    "unit_price": Decimal(record["unit_price"]),
                    "amount": Decimal(record["amount"]),
                }
