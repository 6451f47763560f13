"""Transfers used by the PostgreSQL loading tests (imported via ETL_JOBS_MODULES)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from etl_framework import register
from etl_framework.mapping import FieldMapping
from etl_framework.transfers import TableTransferJob, TableTransferOptions

FIRST_DAY = dt.date(2024, 1, 1)
ORDERS_MAPPING = FieldMapping.from_tuples(
    [
        ("id", "id", "bigint primary key"),
        ("day", "day", "date not null"),
        ("version", "version", "integer not null"),
        ("payload", "payload", "text"),
    ]
)


class SlowOrdersOptions(TableTransferOptions):
    rows: int = 1000
    version: int = 0
    slow_after: int | None = None
    """After this many records: touch ``marker`` and slow down (so a test can kill us)."""
    marker: str | None = None


@register("slow_orders")
class SlowOrdersJob(TableTransferJob[SlowOrdersOptions]):
    target_table = "orders"
    mapping = ORDERS_MAPPING
    window_column = "day"
    filter_to_window = True

    def source(self) -> Iterator[dict[str, Any]]:
        options = self.options
        for i in range(options.rows):
            if options.slow_after is not None and i >= options.slow_after:
                if i == options.slow_after and options.marker:
                    Path(options.marker).write_text(str(i))
                time.sleep(0.001)
            yield {
                "id": i,
                "day": FIRST_DAY + dt.timedelta(days=i % 30),
                "version": options.version,
                "payload": f"row {i} version {options.version}",
            }


class KeyedOptions(TableTransferOptions):
    rows: int = 1000
    null_keys: int = 0
    """Records (after the ``rows`` keyed ones) whose key is NULL."""


@register("keyed_merge")
class KeyedMergeJob(TableTransferJob[KeyedOptions]):
    """Merge on a key the target may declare nullable (a UNIQUE key, not a primary key)."""

    target_table = "keyed"
    mapping = FieldMapping.from_tuples([("id", "id", "bigint"), ("payload", "payload", "text")])
    key_columns = ("id",)
    delta_strategy = "merge"

    def source(self) -> Iterator[dict[str, Any]]:
        options = self.options
        for i in range(options.rows):
            yield {"id": i, "payload": f"row {i}"}
        for i in range(options.null_keys):
            yield {"id": None, "payload": f"no key {i}"}
