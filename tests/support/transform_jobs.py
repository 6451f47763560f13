"""Transfers and transforms shared by the transform tests (SQLite, PostgreSQL).

``tf_orders`` loads 120 orders over 2024-01-01 .. 2024-04-29 into ``tf_orders``;
the transforms read that table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from etl_framework import register
from etl_framework.mapping import FieldMapping
from etl_framework.transfers import TableTransferJob, TableTransferOptions
from etl_framework.transforms import ALL_COLUMNS, SqlTransformJob

FIRST_DAY = dt.date(2024, 1, 1)
ORDERS = 120


class TfOrdersOptions(TableTransferOptions):
    version: int = 0
    rows: int = ORDERS


def order(i: int, version: int) -> dict[str, Any]:
    return {
        "id": i,
        "day": (FIRST_DAY + dt.timedelta(days=i)).isoformat(),
        "status": "completed" if i % 2 == 0 else "open",
        "amount": i * 10 + version,
    }


@register("tf_orders")
class TfOrdersJob(TableTransferJob[TfOrdersOptions]):
    """Upstream: orders, one a day."""

    target_table = "tf_orders"
    mapping = FieldMapping.from_tuples(
        [
            ("id", "id", "bigint primary key"),
            ("day", "day", "date not null"),
            ("status", "status", "varchar(16) not null"),
            ("amount", "amount", "integer not null"),
        ]
    )
    window_column = "day"

    def source(self) -> Iterator[dict[str, Any]]:
        window = self.context.window
        for i in range(self.options.rows):
            record = order(i, self.options.version)
            if window.contains(dt.date.fromisoformat(record["day"])):
                yield record


def expected_month(month: int, version: int = 0) -> list[tuple[int, int]]:
    """(id, amount) of the completed orders of 2024-<month>."""
    return [
        (i, i * 10 + version)
        for i in range(ORDERS)
        if i % 2 == 0 and (FIRST_DAY + dt.timedelta(days=i)).month == month
    ]


@register("tf_completed_view")
class TfCompletedView(SqlTransformJob):
    """View: the month's completed orders."""

    upstream = "tf_orders"
    target_table = "tf_completed"
    fields = [("id", "id"), ("day", "day"), ("amount", "amount")]
    where_clause = """status = {{ params.status }}
        AND day >= {{ month_start(ds) }}
        AND day < {{ next_month_start(ds) }};"""


@register("tf_all_columns_view")
class TfAllColumnsView(SqlTransformJob):
    """View: every column of the upstream table, no filter."""

    upstream = "tf_orders"
    target_table = "tf_everything"
    fields = ALL_COLUMNS


@register("tf_completed_table")
class TfCompletedTable(SqlTransformJob):
    """Table: completed orders, delta replaces the window's days."""

    upstream = "tf_orders"
    target_table = "tf_completed_table"
    materialized = "table"
    fields = [
        ("id", "id", "bigint primary key"),
        ("day", "day", "date not null"),
        ("amount * 2", "double_amount", "integer not null"),
    ]
    window_column = "day"
    where_clause = (
        "status = 'completed'"
        "{% if window.start %} AND day >= {{ window.start }} AND day < {{ window.end }}{% endif %}"
    )


class NotReadyOptions(TableTransferOptions):
    rows: int = 0


@register("tf_not_ready")
class TfNotReadyJob(TableTransferJob[NotReadyOptions]):
    """A source that publishes late: empty means not ready yet."""

    target_table = "tf_late"
    mapping = FieldMapping.from_tuples([("id", "id", "bigint"), ("day", "day", "date not null")])
    window_column = "day"
    empty_means_not_ready = True

    def source(self) -> Iterator[dict[str, Any]]:
        for i in range(self.options.rows):
            yield {"id": i, "day": self.context.execution_date.isoformat()}


@register("tf_empty_ok")
class TfEmptyOkJob(TfNotReadyJob):
    """The same source, where empty is a valid answer."""

    target_table = "tf_empty_ok"
    empty_means_not_ready = False
