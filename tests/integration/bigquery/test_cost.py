"""BigQuery costs in the ledger: a transfer through the runner records, per step, the
jobs and load jobs it ran and the bytes and slot time they reported; ``etlctl runs
--steps`` shows them.

local-bigquery (the emulator) reports ``totalBytesProcessed: "0"`` for every job and
``totalBytesBilled: "0"`` for query jobs, and no ``totalSlotMs`` at all: there the
bytes are recorded as the 0 it reports and slot time stays NULL (unknown is not 0). A
real project reports them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from etl_framework import register
from etl_framework.admin import cli
from etl_framework.mapping import FieldMapping
from etl_framework.runner import run_transfer
from etl_framework.state import RunStore
from etl_framework.transfers import BigQueryTransferJob
from tests.support.bigquery import BigQueryTarget, unique

TRANSFER = "bq_cost_events"


@register(TRANSFER)
class CostEvents(BigQueryTransferJob):
    mapping = FieldMapping.from_tuples(
        [("id", "event_id", "bigint primary key"), ("name", "name", "varchar(20)")]
    )

    def source(self) -> Iterator[dict[str, Any]]:
        for i in range(3):
            yield {"id": i, "name": f"n{i}"}


def test_run_records_bigquery_costs_per_step(
    tmp_path: Path, bq: Any, bq_target: BigQueryTarget
) -> None:
    table = bq_target.table(unique("cost"))
    state = tmp_path / "state.db"
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "state": {"url": f"sqlite:///{state}"},
                "logging": {"format": "text", "progress": False},
                "connections": {"bigquery": bq_target.connection},
                "transfers": {TRANSFER: {"table": table}},
            }
        )
    )
    summary = run_transfer(TRANSFER, "20240115", "truncate", str(config))
    assert summary.succeeded, summary.error
    assert summary.rows_written == 3

    store = RunStore(f"sqlite:///{state}")
    try:
        (run,) = store.runs()
        steps = {s.step: s for s in store.steps(run.run_id)}
    finally:
        store.close()
    claim, pipeline, cleanup = (
        steps["pre_execution_cleansing"],
        steps["pipeline"],
        steps["post_execution_cleanup"],
    )
    # cleansing: the fence claim's query jobs, no load
    assert claim.bq_jobs is not None and claim.bq_jobs >= 1
    assert claim.bq_load_jobs == 0
    # pipeline: ONE load job into staging, then guard queries and the publish transaction
    assert pipeline.bq_load_jobs == 1
    assert pipeline.bq_jobs is not None and pipeline.bq_jobs >= 2
    # cleanup drops staging through the tables API: no job, every cost column NULL
    assert (cleanup.bq_jobs, cleanup.bq_load_jobs, cleanup.bq_bytes_processed) == (None,) * 3
    assert (cleanup.bq_bytes_billed, cleanup.bq_slot_ms) == (None, None)
    # the run's metrics hold the totals of every step
    assert run.metrics["bq_load_jobs"] == 1
    assert run.metrics["bq_jobs"] == claim.bq_jobs + pipeline.bq_jobs

    if bq_target.emulator:
        for step in (claim, pipeline):
            assert (step.bq_bytes_processed, step.bq_bytes_billed) == (0, 0)
            assert step.bq_slot_ms is None  # not reported: NULL, not 0
        assert "bq_slot_ms" not in run.metrics
    else:
        assert pipeline.bq_bytes_billed is not None and pipeline.bq_bytes_billed > 0
        assert pipeline.bq_slot_ms is not None and pipeline.bq_slot_ms > 0
        assert run.metrics["bq_slot_ms"] == claim.bq_slot_ms + pipeline.bq_slot_ms

    result = CliRunner().invoke(cli, ["runs", str(config), "--steps"])
    assert result.exit_code == 0, result.output
    pipeline_line = next(line for line in result.output.splitlines() if " pipeline " in line)
    assert "3 read, 3 written  bq " in pipeline_line
    assert f"bq {pipeline.bq_jobs} jobs (1 load)" in pipeline_line
    if bq_target.emulator:
        assert pipeline_line.endswith("processed 0 B billed 0 B slot-ms n/a")
