"""The ``unit_orders`` transfer (a TableTransferJob over generated orders), registered
on import; used by the table-transfer tests and the fence-through-jobs tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from etl_framework import register
from etl_framework.mapping import FieldMapping
from etl_framework.transfers import TableTransferJob, TableTransferOptions

FIRST_DAY = dt.date(2024, 1, 1)
MAPPING = FieldMapping.from_tuples(
    [
        ("id", "id", "bigint primary key"),
        ("meta__day", "day", "date not null"),
        ("meta__version", "version", "integer not null"),
        ("label", "label", "varchar(30)"),
    ]
)


class UnitOrdersOptions(TableTransferOptions):
    rows: int = 60
    version: int = 0
    label: str | None = "x"
    fail_after: int | None = None


def make_record(i: int, version: int, label: str | None) -> dict[str, Any]:
    day = FIRST_DAY + dt.timedelta(days=i % 30)
    return {"id": i, "meta": {"day": day.isoformat(), "version": version}, "label": label}


@register("unit_orders")
class UnitOrdersJob(TableTransferJob[UnitOrdersOptions]):
    target_table = "orders"
    mapping = MAPPING
    window_column = "day"

    def source(self) -> Iterator[dict[str, Any]]:
        options = self.options
        window = self.context.window
        for i in range(options.rows):
            if i == options.fail_after:
                raise ValueError(f"source failed after {i} records")
            record = make_record(i, options.version, options.label)
            if window.contains(dt.date.fromisoformat(record["meta"]["day"])):
                yield record
