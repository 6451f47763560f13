"""Transforms of the source checks and of `ALL_COLUMNS` tables (SQLite, PostgreSQL),
over ``tf_orders`` of `tests.support.transform_jobs`."""

from __future__ import annotations

from etl_framework import register
from etl_framework.transforms import ALL_COLUMNS, SqlTransformJob
from tests.support.transform_jobs import TfOrdersJob  # registers the upstream, tf_orders

__all__ = ["TfAllColumnsTable", "TfMissingColumnTable", "TfMissingColumnView", "TfOrdersJob"]


@register("tf_all_columns_table")
class TfAllColumnsTable(SqlTransformJob):
    """Table: every column of the completed orders; delta replaces the window's days."""

    upstream = "tf_orders"
    target_table = "tf_all_completed"
    materialized = "table"
    fields = ALL_COLUMNS
    window_column = "day"
    where_clause = (
        "status = 'completed'"
        "{% if window.start %} AND day >= {{ window.start }} AND day < {{ window.end }}{% endif %}"
    )


@register("tf_missing_column_view")
class TfMissingColumnView(SqlTransformJob):
    """View: selects a column tf_orders does not have."""

    upstream = "tf_orders"
    target_table = "tf_broken"
    fields = [("id", "id"), ("discount", "discount")]


@register("tf_missing_column_table")
class TfMissingColumnTable(SqlTransformJob):
    """Table: its where clause names a column tf_orders does not have."""

    upstream = "tf_orders"
    target_table = "tf_broken_table"
    materialized = "table"
    fields = [("id", "id", "bigint")]
    where_clause = "region = 'EU'"
