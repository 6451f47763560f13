"""BigQuery through google-cloud-bigquery (imported lazily): ``type: bigquery``.

The connector runs jobs and nothing else: queries and scripts, load jobs (a local
file uploaded with a resumable upload, or ``gs://`` URIs), table DDL through the
API. Every job is waited on with ``.result()``; a failed job raises
`BigQueryJobError` naming the job, BigQuery's error messages and the failing
statement (or load source), never a bare traceback. Throttling and backend errors
that survive the client's retries are `BigQueryUnavailableError` (transient, exit 75).

Rows are never written with streaming inserts (``insertAll``): writes go through
load jobs (free, atomic per job) and DML. The write strategies are in
`etl_framework.load.bigquery`.

Cost: every finished job (also a failed one) is added to `BigQueryConnector.totals`
(a `BigQueryCost`) and its `JobStats` handed to the job listeners, which
`track_costs` uses to put them into a run's counters (``bq_jobs``, ``bq_load_jobs``,
``bq_bytes_processed``, ``bq_bytes_billed``, ``bq_slot_ms``; a figure the API did not
report is left out, not counted as 0) and so into the ledger, per step and per run, and
the run summary. See `etl_framework.connectors.bigquery_cost`.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from etl_framework.connections import Connector, ConnectorConfig
from etl_framework.connectors.bigquery_cost import (
    COUNTER_BYTES_BILLED,
    COUNTER_BYTES_PROCESSED,
    COUNTER_JOBS,
    COUNTER_LOAD_JOBS,
    COUNTER_SLOT_MS,
    BigQueryCost,
    JobStats,
)
from etl_framework.exceptions import ConfigError, JobError, TransientError

if TYPE_CHECKING:
    import datetime as dt

    from google.cloud import bigquery

    from etl_framework.context import RunCounters

ENV_EMULATOR = "BIGQUERY_EMULATOR_HOST"
"""``host:port`` or URL of a BigQuery emulator; clients then connect anonymously."""
DEFAULT_STAGING_EXPIRATION_HOURS = 24.0
STATEMENT_IN_ERROR_CHARS = 2000
"""How much of a failing statement an error message shows."""

_NAME_PART = re.compile(r"[A-Za-z0-9_-]+(?:[.:][A-Za-z0-9_-]+)*")
_TABLE_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,1023}")
_DATASET_PART = re.compile(r"[A-Za-z0-9_]{1,1024}")
_PROJECT_PART = re.compile(r"(?:[a-z][a-z0-9.:-]{0,62}[a-z0-9]|[a-z])")


class BigQueryConfig(ConnectorConfig):
    """``type: bigquery``: where jobs run and where tables live."""

    type: Literal["bigquery"] = "bigquery"
    project: str | None = None
    """Project that runs (and pays for) the jobs; default: the credentials' project."""
    location: str | None = None
    """Job and dataset location, e.g. ``EU``, ``US``, ``europe-west3``."""
    dataset: str | None = None
    """Default dataset of unqualified table names."""
    staging_dataset: str | None = None
    """Dataset of staging tables (default: the target's dataset)."""
    staging_bucket: str | None = None
    """``gs://bucket[/prefix]``: stage load files in GCS; None: upload them directly."""
    staging_expiration_hours: float = Field(default=DEFAULT_STAGING_EXPIRATION_HOURS, gt=0)
    """Staging tables expire on their own after this long (a crashed run leaves no garbage)."""
    credentials_file: str | None = None
    """A key file mounted at run time; None: Application Default Credentials."""
    api_endpoint: str | None = None
    """Custom API endpoint (an emulator); default: ``$BIGQUERY_EMULATOR_HOST`` or Google's."""
    file_format: Literal["parquet", "ndjson"] = "parquet"
    """Format of the files the write strategies load."""
    maximum_bytes_billed: int | None = Field(default=None, gt=0)
    """Refuse queries that would bill more than this (a cost guard)."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels put on every job (cost attribution)."""
    job_timeout_seconds: float | None = Field(default=None, gt=0)
    """Give up waiting on a job after this long and cancel it (transient error, exit 75)."""


class BigQueryJobError(JobError):
    """A BigQuery job failed; carries the job id, the errors and the statement."""

    def __init__(
        self,
        action: str,
        detail: str,
        *,
        job_id: str | None = None,
        statement: str | None = None,
        errors: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.action = action
        self.detail = detail
        self.job_id = job_id
        self.statement = statement
        self.errors = list(errors)
        text = f"BigQuery {action} failed: {detail}"
        if job_id:
            text += f" (job {job_id})"
        if statement:
            shown = statement.strip()
            if len(shown) > STATEMENT_IN_ERROR_CHARS:
                shown = shown[:STATEMENT_IN_ERROR_CHARS] + " ..."
            text += f"\nstatement:\n{shown}"
        super().__init__(text)


class BigQueryUnavailableError(TransientError):
    """BigQuery throttled us or failed internally, after retries; worth another run."""


TRANSIENT_REASONS = frozenset(
    {"backendError", "internalError", "rateLimitExceeded", "jobBackendError"}
)
QUOTA_REASONS = frozenset({"quotaExceeded"})
"""Over quota: `OutOfSpaceError` (exit 5, retryable), like a full disk."""


def job_failure(
    exc: BaseException,
    action: str,
    *,
    job: Any = None,
    statement: str | None = None,
) -> Exception:
    """Our error for a failed job or API call (transient or not)."""
    from google.api_core import exceptions as gexc

    errors: list[Mapping[str, Any]] = list(getattr(exc, "errors", None) or [])
    if job is not None and not errors:
        errors = list(getattr(job, "errors", None) or [])
    reasons = {str(e.get("reason", "")) for e in errors if isinstance(e, Mapping)}
    messages = [str(e.get("message", "")) for e in errors if isinstance(e, Mapping)]
    detail = (
        "; ".join(dict.fromkeys(m for m in messages if m))
        or getattr(exc, "message", "")
        or str(exc)
    )
    job_id = getattr(job, "job_id", None)
    if reasons & QUOTA_REASONS:
        from etl_framework.failures import QUOTA_EXCEEDED, error_of_kind

        return error_of_kind(QUOTA_EXCEEDED, f"BigQuery {action}", Exception(detail))
    if (
        isinstance(exc, (gexc.ServerError, gexc.TooManyRequests, gexc.RetryError))
        or _is_network_error(exc)
        or reasons & TRANSIENT_REASONS
    ):
        return BigQueryUnavailableError(f"BigQuery {action} failed (transient): {detail}")
    return BigQueryJobError(action, detail, job_id=job_id, statement=statement, errors=errors)


def _is_network_error(exc: BaseException) -> bool:
    """A connection or transport failure talking to the API (worth another run).

    requests' ``ConnectionError``/``Timeout`` are ``OSError`` subclasses, as are
    urllib3's; google-auth wraps token-refresh failures in ``TransportError``.
    """
    if isinstance(exc, OSError):
        return True
    try:
        from google.auth import exceptions as auth_exc
    except ImportError:  # pragma: no cover - google-auth comes with the client
        return False
    return isinstance(exc, auth_exc.TransportError)


@dataclass(frozen=True)
class TableRef:
    """A fully qualified table: ``project.dataset.table``."""

    project: str
    dataset: str
    table: str

    def __str__(self) -> str:
        return f"{self.project}.{self.dataset}.{self.table}"

    @property
    def sql(self) -> str:
        """The name quoted for GoogleSQL: ```project.dataset.table```."""
        return f"`{self.project}.{self.dataset}.{self.table}`"

    def sibling(self, table: str, dataset: str | None = None) -> TableRef:
        return TableRef(self.project, dataset or self.dataset, validate_table_name(table))


def validate_table_name(name: str) -> str:
    if not isinstance(name, str) or not _TABLE_PART.fullmatch(name):
        raise ConfigError(
            f"invalid BigQuery table name {name!r}: letters, digits and underscores only"
        )
    return name


def parse_table_ref(name: str, default_project: str, default_dataset: str | None) -> TableRef:
    """``table``, ``dataset.table`` or ``project.dataset.table`` -> `TableRef`."""
    parts = name.split(".") if isinstance(name, str) else []
    if len(parts) > 3 and parts:
        # project ids may contain a domain prefix: "example.com:proj.dataset.table"
        parts = [".".join(parts[:-2]), parts[-2], parts[-1]]
    if len(parts) == 1:
        if not default_dataset:
            raise ConfigError(f"table {name!r} has no dataset: write dataset.table or set dataset")
        parts = [default_project, default_dataset, parts[0]]
    elif len(parts) == 2:
        parts = [default_project, *parts]
    if len(parts) != 3:
        raise ConfigError(f"invalid BigQuery table name {name!r}")
    project, dataset, table = parts
    if not _PROJECT_PART.fullmatch(project):
        raise ConfigError(f"invalid BigQuery project id {project!r} in {name!r}")
    if not _DATASET_PART.fullmatch(dataset):
        raise ConfigError(f"invalid BigQuery dataset {dataset!r} in {name!r}")
    return TableRef(project, dataset, validate_table_name(table))


def _bigquery() -> Any:
    try:
        from google.cloud import bigquery
    except ImportError:
        from etl_framework.exceptions import missing_extra_error

        raise missing_extra_error("google-cloud-bigquery", "bigquery") from None
    return bigquery


class BigQueryConnector(Connector):
    """One BigQuery client; runs query, load and copy jobs and waits for them."""

    type_name = "bigquery"
    config_model = BigQueryConfig
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"transactions", "merge", "load_jobs", "partitioning", "clustering"}
    )

    config: BigQueryConfig

    def __init__(self, name: str, config: ConnectorConfig) -> None:
        super().__init__(name, config)
        self._client: Any = None
        self.totals = BigQueryCost()
        self._listeners: list[Callable[[JobStats], None]] = []
        self._lock = threading.Lock()
        self._tracked: set[int] = set()

    # --- lifecycle -------------------------------------------------------------------

    @property
    def endpoint(self) -> str | None:
        endpoint = self.config.api_endpoint or os.environ.get(ENV_EMULATOR) or None
        if endpoint and "://" not in endpoint:
            endpoint = f"http://{endpoint}"
        return endpoint

    @property
    def is_emulator(self) -> bool:
        return bool(self.endpoint)

    def _open(self) -> None:
        bigquery = _bigquery()
        from etl_framework.gcp.credentials import resolve_credentials

        resolved = resolve_credentials(self.config.credentials_file, emulator=self.is_emulator)
        project = self.config.project or resolved.project
        if self.is_emulator:
            project = project or "local"
        options = {"api_endpoint": self.endpoint} if self.endpoint else None
        self._client = bigquery.Client(
            project=project,
            credentials=resolved.credentials,
            location=self.config.location,
            client_options=options,
        )

    def _close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def client(self) -> bigquery.Client:
        self.open()
        return self._client  # type: ignore[no-any-return]

    @property
    def project(self) -> str:
        return str(self.client.project)

    def table_ref(self, name: str | TableRef) -> TableRef:
        if isinstance(name, TableRef):
            return name
        return parse_table_ref(name, self.project, self.config.dataset)

    # --- costs -----------------------------------------------------------------------

    def add_job_listener(self, listener: Callable[[JobStats], None]) -> None:
        self._listeners.append(listener)

    def track_costs(self, counters: RunCounters) -> None:
        """Add every later job's costs to ``counters`` (once per counters object)."""
        with self._lock:
            if id(counters) in self._tracked:
                return
            self._tracked.add(id(counters))

        def record(stats: JobStats) -> None:
            for name, value in stats.counters():
                counters.add(name, value)

        self.add_job_listener(record)

    def _finished(self, job: Any) -> JobStats:
        stats = JobStats.from_job(job)
        with self._lock:
            self.totals.add(stats)
        for listener in self._listeners:
            listener(stats)
        return stats

    def _wait(self, job: Any, action: str, statement: str | None = None, **kwargs: Any) -> Any:
        """``job.result()``; record its costs (also when it failed); translate errors."""
        from google.api_core import exceptions as gexc

        try:
            result = job.result(timeout=self.config.job_timeout_seconds, **kwargs)
        except (gexc.GoogleAPIError, TimeoutError) as exc:
            self._record_quietly(job)
            if isinstance(exc, TimeoutError | gexc.RetryError) or "Timeout" in type(exc).__name__:
                # The job keeps running in BigQuery: cancel it, so a publish cannot commit
                # after this run was reported failed (its rerun replaces the same data).
                cancelled = self._cancel_quietly(job)
                raise BigQueryUnavailableError(
                    f"BigQuery {action}: job {job.job_id} did not finish within "
                    f"{self.config.job_timeout_seconds}s; "
                    + ("cancelled" if cancelled else "cancelling it failed")
                ) from exc
            raise job_failure(exc, action, job=job, statement=statement) from exc
        except OSError as exc:  # the connection broke while waiting: state unknown
            self._cancel_quietly(job)
            raise job_failure(exc, action, job=job, statement=statement) from exc
        self._finished(job)
        return result

    def _cancel_quietly(self, job: Any) -> bool:
        """Request the job's cancellation; whether the request was accepted."""
        try:
            job.cancel()
        except Exception:
            return False
        return True

    def _record_quietly(self, job: Any) -> None:
        with contextlib.suppress(Exception):  # statistics of a failed job are best effort
            self._finished(job)

    # --- queries ---------------------------------------------------------------------

    def job_labels(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        labels = dict(self.config.labels)
        labels.update(extra or {})
        return labels

    def query(
        self,
        sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        job_id_prefix: str | None = None,
        page_size: int | None = None,
        action: str = "query",
    ) -> Any:
        """Run a query or script, wait for it, return its RowIterator."""
        _job, rows = self._run_query(sql, params, labels, job_id_prefix, page_size, action)
        return rows

    def execute(
        self,
        sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        job_id_prefix: str | None = None,
        action: str = "statement",
    ) -> Any:
        """Run a statement or script for its effect; return the finished QueryJob."""
        job, _rows = self._run_query(sql, params, labels, job_id_prefix, None, action)
        return job

    def _run_query(
        self,
        sql: str,
        params: Mapping[str, Any] | None,
        labels: Mapping[str, str] | None,
        job_id_prefix: str | None,
        page_size: int | None,
        action: str,
    ) -> tuple[Any, Any]:
        bigquery = _bigquery()
        job_config = bigquery.QueryJobConfig(
            query_parameters=query_parameters(params or {}),
            labels=self.job_labels(labels),
        )
        if self.config.maximum_bytes_billed:
            job_config.maximum_bytes_billed = self.config.maximum_bytes_billed
        try:
            job = self.client.query(
                sql,
                job_config=job_config,
                job_id_prefix=job_id_prefix,
                location=self.config.location,
            )
        except Exception as exc:
            raise job_failure(exc, action, statement=sql) from exc
        extra = {"page_size": page_size} if page_size is not None else {}
        return job, self._wait(job, action, sql, **extra)

    # --- loads -------------------------------------------------------------------------

    def load_file(
        self,
        path: str | os.PathLike[str],
        table: TableRef,
        job_config: Any,
        *,
        job_id_prefix: str | None = None,
    ) -> Any:
        """Upload a local file (resumable) in one load job into ``table``; wait for it."""
        action = f"load of {os.fspath(path)} into {table}"
        job_config.labels = self.job_labels(job_config.labels or None)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below; open errors are ours
        except OSError as exc:
            raise JobError(f"cannot read load file {os.fspath(path)}: {exc}") from exc
        # Upload errors (connection resets are OSError too) are classified like any
        # other API failure: network and 5xx are transient.
        try:
            with handle:
                job = self.client.load_table_from_file(
                    handle,
                    str(table),
                    job_config=job_config,
                    job_id_prefix=job_id_prefix,
                    location=self.config.location,
                    rewind=True,
                )
        except Exception as exc:
            raise job_failure(exc, action) from exc
        self._wait(job, action)
        return job

    def load_uris(
        self,
        uris: Sequence[str],
        table: TableRef,
        job_config: Any,
        *,
        job_id_prefix: str | None = None,
    ) -> Any:
        """Load ``gs://`` URIs (wildcards allowed) into ``table`` in ONE load job."""
        if not uris:
            raise ConfigError(f"no source files to load into {table}")
        shown = ", ".join(uris[:3]) + (f" and {len(uris) - 3} more" if len(uris) > 3 else "")
        action = f"load of {shown} into {table}"
        job_config.labels = self.job_labels(job_config.labels or None)
        try:
            job = self.client.load_table_from_uri(
                list(uris),
                str(table),
                job_config=job_config,
                job_id_prefix=job_id_prefix,
                location=self.config.location,
            )
        except Exception as exc:
            raise job_failure(exc, action) from exc
        self._wait(job, action)
        return job

    # --- tables ------------------------------------------------------------------------

    def get_table(self, table: TableRef) -> Any | None:
        """The table's metadata, or None when it does not exist."""
        from google.api_core import exceptions as gexc

        try:
            return self.client.get_table(str(table))
        except gexc.NotFound:
            return None
        except Exception as exc:
            raise job_failure(exc, f"reading table {table}") from exc

    def ensure_dataset(self, project: str, dataset: str) -> None:
        """Create the dataset unless it exists.

        Looked up first: creating (even with ``exists_ok``) needs
        ``bigquery.datasets.create``, which a run's service account on an existing
        dataset usually lacks.
        """
        from google.api_core import exceptions as gexc

        bigquery = _bigquery()
        name = f"{project}.{dataset}"
        try:
            self.client.get_dataset(name)
            return
        except gexc.NotFound:
            pass
        except Exception as exc:
            raise job_failure(exc, f"reading dataset {name}") from exc
        ref = bigquery.Dataset(name)
        if self.config.location:
            ref.location = self.config.location
        try:
            self.client.create_dataset(ref, exists_ok=True)  # another run may create it too
        except Exception as exc:
            raise job_failure(exc, f"creating dataset {name}") from exc

    def create_table(self, table: Any) -> Any:
        try:
            return self.client.create_table(table)
        except Exception as exc:
            raise job_failure(exc, f"creating table {table.reference}") from exc

    def delete_table(self, table: TableRef) -> bool:
        """Drop a table; return whether it existed."""
        from google.api_core import exceptions as gexc

        try:
            self.client.delete_table(str(table))
        except gexc.NotFound:
            return False
        except Exception as exc:
            raise job_failure(exc, f"dropping table {table}") from exc
        return True

    def list_tables(self, project: str, dataset: str) -> list[str]:
        """Table ids in a dataset ([] when the dataset does not exist)."""
        from google.api_core import exceptions as gexc

        try:
            return [t.table_id for t in self.client.list_tables(f"{project}.{dataset}")]
        except gexc.NotFound:
            return []
        except Exception as exc:
            raise job_failure(exc, f"listing tables of {project}.{dataset}") from exc


# --- query parameters ----------------------------------------------------------------


def query_parameters(params: Mapping[str, Any]) -> list[Any]:
    """Typed BigQuery parameters for Python values (``@name`` in SQL)."""
    bigquery = _bigquery()
    out = []
    for name, value in params.items():
        if isinstance(value, bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter):
            out.append(value)
            continue
        if isinstance(value, (list, tuple)):
            kind = _param_type(value[0]) if value else "STRING"
            out.append(bigquery.ArrayQueryParameter(name, kind, list(value)))
            continue
        out.append(bigquery.ScalarQueryParameter(name, _param_type(value), value))
    return out


def _param_type(value: Any) -> str:
    import datetime as _dt
    import decimal

    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    if isinstance(value, decimal.Decimal):
        return "NUMERIC"
    if isinstance(value, _dt.datetime):
        return "TIMESTAMP" if value.tzinfo is not None else "DATETIME"
    if isinstance(value, _dt.date):
        return "DATE"
    if isinstance(value, bytes):
        return "BYTES"
    return "STRING"


def staging_expiry(hours: float) -> dt.datetime:
    import datetime as _dt

    return _dt.datetime.now(_dt.UTC) + _dt.timedelta(hours=hours)


__all__ = [
    "COUNTER_BYTES_BILLED",
    "COUNTER_BYTES_PROCESSED",
    "COUNTER_JOBS",
    "COUNTER_LOAD_JOBS",
    "COUNTER_SLOT_MS",
    "BigQueryConfig",
    "BigQueryConnector",
    "BigQueryCost",
    "BigQueryJobError",
    "BigQueryUnavailableError",
    "JobStats",
    "TableRef",
    "parse_table_ref",
    "query_parameters",
]
