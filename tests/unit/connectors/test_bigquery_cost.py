"""BigQuery job costs: read from real google-cloud-bigquery job objects (built from API
resources as jobs.get returns them), added up None-safe, put into the run's counters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from etl_framework.connections import build_connector
from etl_framework.connectors.bigquery import BigQueryConnector
from etl_framework.connectors.bigquery_cost import BigQueryCost, JobStats
from etl_framework.context import RunCounters

TABLE = {"projectId": "acme", "datasetId": "d", "tableId": "t"}


def _client() -> bigquery.Client:
    return bigquery.Client(project="acme", credentials=AnonymousCredentials())


def query_job(job_id: str, statistics: dict[str, Any]) -> bigquery.QueryJob:
    return bigquery.QueryJob.from_api_repr(
        {
            "jobReference": {"projectId": "acme", "jobId": job_id, "location": "EU"},
            "configuration": {"query": {"query": "SELECT 1"}},
            "statistics": statistics,
        },
        _client(),
    )


def load_job(job_id: str, statistics: dict[str, Any]) -> bigquery.LoadJob:
    return bigquery.LoadJob.from_api_repr(
        {
            "jobReference": {"projectId": "acme", "jobId": job_id},
            "configuration": {"load": {"destinationTable": TABLE}},
            "statistics": statistics,
        },
        _client(),
    )


def copy_job(job_id: str) -> bigquery.CopyJob:
    return bigquery.CopyJob.from_api_repr(
        {
            "jobReference": {"projectId": "acme", "jobId": job_id},
            "configuration": {"copy": {"sourceTables": [TABLE], "destinationTable": TABLE}},
            "statistics": {"creationTime": "1700000000000"},
        },
        _client(),
    )


QUERY = query_job(
    "job_q",
    {
        "totalBytesProcessed": "1048576",
        "totalSlotMs": "1300",
        "query": {
            "totalBytesProcessed": "1048576",
            "totalBytesBilled": "10485760",
            "totalSlotMs": "1234",
        },
    },
)
LOAD = load_job("job_l", {"totalSlotMs": "77", "load": {"outputRows": "3"}})
"""A load job as BigQuery reports it: slot time, no bytes processed or billed."""
EMULATED = query_job("job_e", {"totalBytesProcessed": "0", "query": {"totalBytesProcessed": "0"}})
"""A query job as local-bigquery reports it: 0 bytes processed, no billing, no slot time."""


@pytest.fixture
def connector() -> Iterator[BigQueryConnector]:
    conn = build_connector(
        "bq", {"type": "bigquery", "project": "acme", "api_endpoint": "http://127.0.0.1:9"}
    )
    assert isinstance(conn, BigQueryConnector)
    yield conn


def test_figures_of_each_kind_of_job() -> None:
    query = JobStats.from_job(QUERY)
    assert (query.job_id, query.job_type, query.is_load) == ("job_q", "query", False)
    # the query statistics win over the job-wide ones
    assert (query.bytes_processed, query.bytes_billed, query.slot_ms) == (1048576, 10485760, 1234)

    load = JobStats.from_job(LOAD)
    assert (load.job_type, load.is_load) == ("load", True)
    assert (load.bytes_processed, load.bytes_billed, load.slot_ms) == (None, None, 77)

    copy = JobStats.from_job(copy_job("job_c"))
    assert copy.job_type == "copy"
    assert (copy.bytes_processed, copy.bytes_billed, copy.slot_ms) == (None, None, None)

    # a script's parent job reporting only the job-wide figures
    script = JobStats.from_job(
        query_job("job_s", {"totalBytesProcessed": "500", "totalSlotMs": "9"})
    )
    assert (script.bytes_processed, script.bytes_billed, script.slot_ms) == (500, None, 9)

    emulated = JobStats.from_job(EMULATED)
    assert (emulated.bytes_processed, emulated.bytes_billed, emulated.slot_ms) == (0, None, None)


def test_unfinished_job_reports_nothing() -> None:
    pending = query_job("job_p", {"creationTime": "1700000000000"})
    stats = JobStats.from_job(pending)
    assert (stats.bytes_processed, stats.bytes_billed, stats.slot_ms) == (None, None, None)


def test_accumulator_counts_jobs_and_keeps_unknown_as_none() -> None:
    cost = BigQueryCost()
    assert (cost.jobs, cost.load_jobs, cost.bytes_billed) == (0, 0, None)
    cost.add(LOAD)
    assert (cost.jobs, cost.load_jobs) == (1, 1)
    assert (cost.bytes_processed, cost.bytes_billed, cost.slot_ms) == (None, None, 77)
    cost.add(copy_job("job_c"))
    assert (cost.jobs, cost.load_jobs, cost.slot_ms) == (2, 1, 77)
    stats = cost.add(QUERY)
    assert stats.bytes_billed == 10485760
    assert cost == BigQueryCost(
        jobs=3, load_jobs=1, bytes_processed=1048576, bytes_billed=10485760, slot_ms=1311
    )
    cost.add(JobStats.from_job(EMULATED))  # JobStats are accepted too; 0 is a value
    assert (cost.jobs, cost.bytes_processed, cost.slot_ms) == (4, 1048576, 1311)


def test_connector_puts_each_job_into_the_run_counters(connector: BigQueryConnector) -> None:
    counters = RunCounters()
    connector.track_costs(counters)
    connector.track_costs(counters)  # once per counters object
    start = counters.mark()
    connector._finished(LOAD)
    connector._finished(EMULATED)
    # no job reported bytes billed: the counter is absent, not 0
    assert counters.extra == {
        "bq_jobs": 2,
        "bq_load_jobs": 1,
        "bq_bytes_processed": 0,
        "bq_slot_ms": 77,
    }
    second = counters.mark()
    connector._finished(QUERY)
    assert counters.added_since(second) == {
        "bq_jobs": 1,
        "bq_load_jobs": 0,
        "bq_bytes_processed": 1048576,
        "bq_bytes_billed": 10485760,
        "bq_slot_ms": 1234,
    }
    third = counters.mark()
    connector._finished(EMULATED)
    # reported 0 bytes: present as 0; no slot time reported: absent
    assert counters.added_since(third) == {
        "bq_jobs": 1,
        "bq_load_jobs": 0,
        "bq_bytes_processed": 0,
    }
    assert counters.added_since(counters.mark()) == {}
    assert counters.added_since(start)["bq_jobs"] == 4
    assert connector.totals == BigQueryCost(
        jobs=4, load_jobs=1, bytes_processed=1048576, bytes_billed=10485760, slot_ms=1311
    )
