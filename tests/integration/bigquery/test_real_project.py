"""Checks only a real BigQuery project can answer (the emulator has no billing model).

Skipped unless ETL_BQ_TEST_PROJECT and ETL_BQ_TEST_DATASET name a project and a
dataset to write throw-away tables into (credentials: ADC). With them set, the
whole tests/integration/bigquery suite runs against that project; see docs/gcp.md.
"""

from __future__ import annotations

from typing import Any

import pytest

from etl_framework.context import RunCounters
from etl_framework.load.bigquery import (
    BigQueryReplaceTableStrategy,
    BigQueryReplaceWindowStrategy,
    Partitioning,
)
from etl_framework.window import Window
from tests.support.bigquery import (
    DAY1,
    DAY2,
    DAY3,
    MAPPING,
    BigQueryTarget,
    real_project,
    record,
    rows,
    unique,
)

pytestmark = pytest.mark.skipif(
    real_project() is None,
    reason="set ETL_BQ_TEST_PROJECT and ETL_BQ_TEST_DATASET to run against real BigQuery",
)


def test_partition_aligned_window_touches_only_its_partition(
    bq: Any, bq_target: BigQueryTarget
) -> None:
    table = bq_target.table(unique("events"))
    partitioning = Partitioning(column="event_date")
    seed = [record(i, day) for i, day in enumerate([DAY1, DAY1, DAY2, DAY2, DAY3], start=1)]
    truncate = BigQueryReplaceTableStrategy(
        bq, table, MAPPING, run_id="realrun1", partitioning=partitioning
    )
    truncate.write(rows(seed))
    truncate.drop_staging()

    counters = RunCounters()
    window = BigQueryReplaceWindowStrategy(
        bq,
        table,
        MAPPING,
        run_id="realrun2",
        window=Window(DAY2, DAY3),
        window_column="event_date",
        partitioning=partitioning,
        counters=counters,
    )
    try:
        result = window.write(rows([record(9, DAY2)]))
    finally:
        window.drop_staging()
    children = {j.statement_type: j for j in bq.client.list_jobs(parent_job=result.job_id)}
    delete = children["DELETE"]
    assert delete.num_dml_affected_rows == 2
    # A DELETE of whole partitions is a metadata operation: nothing scanned, nothing billed.
    assert (delete.total_bytes_processed or 0) == 0
    assert counters.extra["bq_bytes_billed"] > 0  # the INSERT ... SELECT from staging
    assert counters.extra["bq_slot_ms"] > 0
