"""The BigQuery query source streams rows page by page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from etl_framework.connectors.bigquery import BigQueryJobError
from etl_framework.context import RunCounters
from etl_framework.sources.bigquery import query_records, window_params
from etl_framework.window import Window
from tests.support.bigquery import BigQueryTarget, unique


def test_query_streams_records_by_page_with_parameters(bq: Any, bq_target: BigQueryTarget) -> None:
    table = bq_target.table(unique("numbers"))
    bq.ensure_dataset(bq_target.project, bq_target.dataset)
    bq.query(
        f"CREATE TABLE `{table}` AS SELECT n, DATE_ADD(DATE '2024-01-01', INTERVAL MOD(n, 5) DAY)"
        " AS day FROM UNNEST(GENERATE_ARRAY(1, 250)) AS n"
    )
    counters = RunCounters()
    records = query_records(
        bq,
        f"SELECT n, day FROM `{table}` WHERE day >= @start AND day < @end ORDER BY n",
        window_params(Window(dt.date(2024, 1, 2), dt.date(2024, 1, 4))),
        page_size=20,
        counters=counters,
    )
    first = next(records)
    assert first == {"n": 1, "day": dt.date(2024, 1, 2)}
    rest = list(records)
    assert len(rest) + 1 == 100
    assert all(dt.date(2024, 1, 2) <= r["day"] < dt.date(2024, 1, 4) for r in rest)
    assert counters.extra["bq_jobs"] == 1


def test_query_error_names_the_statement(bq: Any) -> None:
    with pytest.raises(BigQueryJobError) as caught:
        list(query_records(bq, "SELECT no_such_column FROM UNNEST([1]) AS x"))
    assert "no_such_column" in str(caught.value)
    assert "statement:\nSELECT no_such_column" in str(caught.value)
