"""Demo orders: the shipped CSV of ~100k orders into the warehouse table ``orders``.

A declarative `TableTransferJob`: truncate rebuilds the whole table; delta replaces
only the window's order days. Either way the rows are streamed into a staging
table first and published in one transaction, so readers never see an empty or
half-written table, and a run killed at any point leaves the table as it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from etl_framework import register
from etl_framework.config import FrameworkConfig
from etl_framework.mapping import FieldMapping
from etl_framework.sources.files import csv_records
from etl_framework.sources.fingerprints import location_fingerprint
from etl_framework.transfers import TableTransferJob, TableTransferOptions
from etl_framework.window import Window

DEFAULT_SOURCE = str(Path(__file__).parent / "data" / "demo_orders.csv.gz")


class DemoOrdersOptions(TableTransferOptions):
    source: str = DEFAULT_SOURCE
    """Path (or gs:// URI) of the gzip CSV export."""


@register("demo_orders")
class DemoOrdersJob(TableTransferJob[DemoOrdersOptions]):
    """Demo: ~100k shipped orders into the SQLite warehouse table ``orders``."""

    allow_parallel_windows = False

    target_connection = "warehouse"
    target_table = "orders"
    mapping = FieldMapping.from_tuples(
        [
            ("order_id", "order_id", "bigint primary key"),
            ("order_date", "order_date", "date not null"),
            ("ordered_at", "ordered_at", "timestamptz not null"),
            ("customer_id", "customer_id", "varchar(16) not null"),
            ("country", "country", "varchar(2) not null"),
            ("sku", "sku", "varchar(16) not null"),
            ("category", "category", "varchar(32) not null"),
            ("quantity", "quantity", "integer not null"),
            ("unit_price", "unit_price", "numeric(12,2) not null"),
            ("currency", "currency", "varchar(3) not null"),
            ("status", "status", "varchar(16) not null"),
            ("amount", "amount", "numeric(12,2) not null"),
        ]
    )
    window_column = "order_date"
    index_columns = ("order_date",)
    filter_to_window = True  # the export holds every day; delta keeps the window's

    skip_unchanged = False  # opt in per run: pipeline ... --skip-unchanged

    @classmethod
    def source_fingerprint(
        cls, config: FrameworkConfig, options: DemoOrdersOptions, window: Window
    ) -> str | None:
        return location_fingerprint(options.source)

    @classmethod
    def lineage_inputs(cls, config: FrameworkConfig, options: DemoOrdersOptions) -> frozenset[str]:
        source = str(options.source)
        return frozenset({source if "://" in source else os.path.abspath(source)})

    def source(self) -> Iterator[dict[str, Any]]:
        return csv_records(self.options.source)
