"""Demo transform: the completed orders of the execution date's month, as a view.

Reads the table ``demo_orders`` loads (``orders``) and replaces the view
``completed_orders`` in the same warehouse. It depends on ``demo_orders``: a run
whose date ``demo_orders`` has not covered yet exits 75 and changes nothing.

    pipeline 20240215 demo_orders truncate jobs/config/local.yaml
    pipeline 20240215 demo_completed_orders truncate jobs/config/local.yaml
"""

from __future__ import annotations

from etl_framework import register
from etl_framework.transforms import SqlTransformJob


@register("demo_completed_orders")
class DemoCompletedOrdersJob(SqlTransformJob):
    """Demo: the view completed_orders (the execution month's completed orders)."""

    upstream = "demo_orders"
    target_table = "completed_orders"
    materialized = "view"
    fields = [
        ("order_id", "order_id"),
        ("order_date", "order_date"),
        ("country", "country"),
        ("amount", "amount"),
    ]
    where_clause = """
        status = 'completed'
        AND order_date >= {{ month_start(ds) }}
        AND order_date < {{ next_month_start(ds) }}
    """
