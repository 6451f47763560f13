"""A BigQuery query as a source: the result streams as records, page by page.

The query runs as one query job (waited on with ``.result()``; a failure names the
statement); rows are then fetched ``page_size`` at a time through the job's result
pages, so memory holds one page, not the result. Parameters are typed BigQuery
query parameters (``@name`` in the SQL), window bounds included::

    def source(self):
        bq = self.context.connections.get("warehouse", BigQueryConnector)
        return query_records(
            bq,
            "SELECT id, total, created_at FROM shop.orders "
            "WHERE created_at >= @start AND created_at < @end",
            window_params(self.context.window, as_timestamps=True),
            counters=self.context.counters,
        )

The job's bytes processed/billed and slot time go into ``counters`` (and so into the
ledger) like those of the write strategies.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from etl_framework.sources.sql import window_params

if TYPE_CHECKING:
    from etl_framework.connectors.bigquery import BigQueryConnector
    from etl_framework.context import RunCounters

DEFAULT_PAGE_ROWS = 10_000


def query_records(
    connector: BigQueryConnector,
    sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    page_size: int = DEFAULT_PAGE_ROWS,
    counters: RunCounters | None = None,
) -> Iterator[dict[str, Any]]:
    """Each row of ``sql`` as a dict (column name -> Python value), streamed by page."""
    from google.api_core import exceptions as gexc

    from etl_framework.connectors.bigquery import job_failure

    if counters is not None:
        connector.track_costs(counters)
    result = connector.query(sql, params, page_size=page_size, action="source query")
    try:
        for page in result.pages:
            for row in page:
                yield dict(row.items())
    except gexc.GoogleAPIError as exc:
        raise job_failure(exc, "reading source query results", statement=sql) from exc


__all__ = ["DEFAULT_PAGE_ROWS", "query_records", "window_params"]
