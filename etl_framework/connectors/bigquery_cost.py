"""What BigQuery jobs cost: bytes processed and billed, slot-ms, job and load-job counts.

`JobStats.from_job` reads one finished job (a ``QueryJob``, ``LoadJob`` or ``CopyJob``
of google-cloud-bigquery, with the statistics the API returned); `BigQueryCost` adds
jobs up. A figure the API did not report stays None, never 0: unknown is not zero
(load jobs, for one, report no bytes billed, and local emulators no slot time). The
sums are None until a job reported the figure.

`etl_framework.connectors.bigquery.BigQueryConnector` feeds every job it waits on into
its ``totals`` and into the run's counters (`COUNTERS`), from where the ledger records
them per step (``etl_run_steps.bq_*``) and per run (the run's metrics). Pure Python:
no google import.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

COUNTER_JOBS = "bq_jobs"
COUNTER_LOAD_JOBS = "bq_load_jobs"
COUNTER_BYTES_PROCESSED = "bq_bytes_processed"
COUNTER_BYTES_BILLED = "bq_bytes_billed"
COUNTER_SLOT_MS = "bq_slot_ms"
COUNTERS = (
    COUNTER_JOBS,
    COUNTER_LOAD_JOBS,
    COUNTER_BYTES_PROCESSED,
    COUNTER_BYTES_BILLED,
    COUNTER_SLOT_MS,
)
"""The run counters (and ledger step columns) of BigQuery costs, same names."""


def _number(*values: Any) -> int | None:
    """The first reported value as an int (the API sends int64 as strings)."""
    for value in values:
        if value not in (None, ""):
            return int(value)
    return None


@dataclass(frozen=True)
class JobStats:
    """Cost figures of one finished job (None: not reported)."""

    job_id: str
    job_type: str
    bytes_processed: int | None = None
    bytes_billed: int | None = None
    slot_ms: int | None = None

    @classmethod
    def from_job(cls, job: Any) -> JobStats:
        """Read the statistics of a finished QueryJob/LoadJob/CopyJob.

        A query job's figures come from its properties (``total_bytes_processed``,
        ``total_bytes_billed``, ``slot_millis``: ``statistics.query``), falling back to
        the job-wide ``statistics.totalBytesProcessed``/``totalSlotMs``, which are also
        where load and copy jobs report theirs (the client has no property for those:
        they are read from the job's API resource)."""
        job_type = str(getattr(job, "job_type", "") or "")
        properties = getattr(job, "_properties", None)
        resource = properties if isinstance(properties, Mapping) else {}
        stats = resource.get("statistics") or {}
        query: Mapping[str, Any] = {}
        if job_type == "query":
            query = {
                "totalBytesProcessed": job.total_bytes_processed,
                "totalBytesBilled": job.total_bytes_billed,
                "totalSlotMs": job.slot_millis,
            }
        return cls(
            job_id=str(getattr(job, "job_id", "") or ""),
            job_type=job_type,
            bytes_processed=_number(
                query.get("totalBytesProcessed"), stats.get("totalBytesProcessed")
            ),
            bytes_billed=_number(query.get("totalBytesBilled")),
            slot_ms=_number(query.get("totalSlotMs"), stats.get("totalSlotMs")),
        )

    @property
    def is_load(self) -> bool:
        return self.job_type == "load"

    def counters(self) -> Iterator[tuple[str, int]]:
        """(counter, value) of this job: the counts, and each figure that was reported."""
        yield COUNTER_JOBS, 1
        yield COUNTER_LOAD_JOBS, int(self.is_load)
        for name, value in (
            (COUNTER_BYTES_PROCESSED, self.bytes_processed),
            (COUNTER_BYTES_BILLED, self.bytes_billed),
            (COUNTER_SLOT_MS, self.slot_ms),
        ):
            if value is not None:
                yield name, value


def _plus(total: int | None, value: int | None) -> int | None:
    if value is None:
        return total
    return value if total is None else total + value


@dataclass
class BigQueryCost:
    """Jobs added up: counts, and sums that stay None until a job reported them."""

    jobs: int = 0
    load_jobs: int = 0
    bytes_processed: int | None = None
    bytes_billed: int | None = None
    slot_ms: int | None = None

    def add(self, job: Any) -> JobStats:
        """Add a finished job (or its `JobStats`); return its figures."""
        stats = job if isinstance(job, JobStats) else JobStats.from_job(job)
        self.jobs += 1
        self.load_jobs += int(stats.is_load)
        self.bytes_processed = _plus(self.bytes_processed, stats.bytes_processed)
        self.bytes_billed = _plus(self.bytes_billed, stats.bytes_billed)
        self.slot_ms = _plus(self.slot_ms, stats.slot_ms)
        return stats


__all__ = [
    "COUNTERS",
    "COUNTER_BYTES_BILLED",
    "COUNTER_BYTES_PROCESSED",
    "COUNTER_JOBS",
    "COUNTER_LOAD_JOBS",
    "COUNTER_SLOT_MS",
    "BigQueryCost",
    "JobStats",
]
