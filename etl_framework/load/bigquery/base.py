"""`BigQueryWriteStrategy`: stage with load jobs, publish atomically, clean up.

Every strategy runs the same steps (the same shape as `etl_framework.load.sql.base`)::

    strategy = BigQueryReplaceWindowStrategy(bq, "events", mapping, run_id=ctx.run_id,
                                             window=ctx.window, window_column="event_date",
                                             ledger=ctx.ledger, fence_token=ctx.fence_token)
    strategy.claim()                    # pre_execution_cleansing: the warehouse fence,
    strategy.drop_stale_staging()       #   and staging the ledger says crashed runs left
    strategy.prepare()                  # dataset + target (partitioned/clustered) exist, schema ok
    strategy.load(mapping.rows(records))    # rows -> local Parquet/NDJSON file
    # or strategy.load_uris(["gs://..."])   # files already in the target's shape
    strategy.publish()                  # load job into staging, guards, ONE transaction
    strategy.drop_staging()             # post_execution_cleanup, also after failure

=====================================  ===================================================
`BigQueryReplaceTableStrategy`         truncate: load into staging, then ONE transaction:
                                       ``DELETE`` every row + ``INSERT`` from staging. The
                                       target table itself is kept (schema descriptions,
                                       policy tags, partitioning, clustering, grants).
`BigQueryReplaceWindowStrategy`        delta: load into staging, then ONE transaction:
                                       ``DELETE`` the window on the window column +
                                       ``INSERT`` from staging. With the target partitioned
                                       on that column the DELETE prunes to the window's
                                       partitions (whole partitions: metadata-only).
`BigQueryMergeStrategy`                load into staging, then ONE ``MERGE`` on the keys
                                       (in a transaction with the fence check).
=====================================  ===================================================

Each lives in its own module (``replace_table.py``, ``replace_window.py``,
``merge.py``), named like the SQL ones (`etl_framework.load.sql`); guard settings and
defaults come from the one `etl_framework.load.guards.GuardConfig`.

With a fencing token the first statement of every publish transaction is the fence
check (`etl_framework.load.bigquery.fence`): a run whose lease a newer run took over
aborts the transaction with `FencedOutError` and publishes nothing.

Staging tables are named ``_etl_stg_<table>__<target8>__<window>__<run8>``
(`staging.py`), recorded in the ledger before they are created (a plain create: an
existing table is an error, never dropped) and created with an expiration
(``staging_expiration_hours``, 24 h by default), so a crashed run never leaves permanent
garbage. `drop_stale_staging` drops only the staging tables (and their staged GCS files)
that the ledger recorded for runs that are gone, never a table because its name matches
the pattern. ``<target8>`` is a hash of the full ``project.dataset.table``: targets with
the same table name in different datasets share a staging dataset (and bucket) without
ever touching each other's staging.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from etl_framework.connectors.bigquery import (
    BigQueryConnector,
    TableRef,
    _bigquery,
    staging_expiry,
)
from etl_framework.exceptions import ConfigError, GuardError, JobError
from etl_framework.load import guards as _guards
from etl_framework.load.bigquery.fence import BigQueryFence
from etl_framework.load.bigquery.files import SOURCE_FORMATS, FileFormat, LoadFileWriter
from etl_framework.load.bigquery.schema import Partitioning, check_target_schema, schema_fields
from etl_framework.load.bigquery.staging import staging_table_name
from etl_framework.load.contract import run_tag
from etl_framework.load.guards import GuardConfig
from etl_framework.mapping import ColumnKind
from etl_framework.window import Window

if TYPE_CHECKING:
    from etl_framework.connectors.gcs import GcsConnector
    from etl_framework.context import RunCounters
    from etl_framework.load.planned import PlannedStatement
    from etl_framework.mapping import FieldMapping
    from etl_framework.state.handle import LedgerHandle

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BigQueryPublishResult:
    """What one publish did."""

    inserted: int
    """Rows loaded (staged) and published."""
    deleted: int = -1
    """Rows the publish replaced or updated (-1: unknown)."""
    statement: str | None = None
    """The publish statement (None for a load-job publish)."""
    job_id: str | None = None
    """The publishing job (load job, or the transaction's / MERGE's query job)."""


class BigQueryWriteStrategy(ABC):
    """Load rows through load jobs, publish atomically, drop staging."""

    name: ClassVar[str]
    full_refresh: ClassVar[bool] = False
    """The publish replaces the whole target: the truncate guard defaults apply
    (``min_rows`` 1, ``min_fraction`` 0.5; see `GuardConfig.limits`)."""

    def __init__(
        self,
        connector: BigQueryConnector,
        table: str,
        mapping: FieldMapping,
        *,
        run_id: str,
        window: Window | None = None,
        partitioning: Partitioning | None = None,
        clustering: Sequence[str] = (),
        description: str | None = None,
        column_descriptions: dict[str, str] | None = None,
        file_format: FileFormat | None = None,
        guards: GuardConfig | None = None,
        counters: RunCounters | None = None,
        log: logging.LoggerAdapter[logging.Logger] | logging.Logger | None = None,
        ledger: LedgerHandle | None = None,
        fence_token: int = 0,
        fence_window: Window | None = None,
        transfer: str = "",
    ) -> None:
        self.connector = connector
        self.mapping = mapping
        self.run_id = run_id
        self.window = window or Window.unbounded()
        self.partitioning = partitioning
        self.clustering = tuple(clustering)
        self.description = description
        self.column_descriptions = column_descriptions or {}
        self.file_format: FileFormat = file_format or connector.config.file_format
        if self.file_format == "parquet" and any(
            f.type.kind is ColumnKind.JSON for f in mapping.fields
        ):
            # BigQuery load jobs take JSON columns only from CSV, Avro or JSON files.
            self.file_format = "ndjson"
        self.guards = guards or GuardConfig()
        self.guard_limits = self.guards.limits(full_refresh=self.full_refresh)
        unknown = set(self.guards.all_null_allowed) - set(mapping.columns)
        if unknown:
            raise ConfigError(
                "guards.all_null_allowed names unmapped columns: " + ", ".join(sorted(unknown))
            )
        self._never_set = {
            i
            for i, column in enumerate(mapping.columns)
            if self.guards.forbid_all_null and column not in self.guards.all_null_allowed
        }
        """Columns (indexes) no loaded row has set yet: the all_null guard (rows only)."""
        self.log = log or logger
        self.target = connector.table_ref(table)
        staging_dataset = connector.config.staging_dataset or self.target.dataset
        self.staging = TableRef(
            self.target.project,
            staging_dataset,
            staging_table_name(self.target, self.window, run_id),
        )
        if ledger is None:
            from etl_framework.state.handle import NullLedger

            ledger = NullLedger()
        self.ledger: LedgerHandle = ledger
        self.fence = BigQueryFence(
            connector,
            self.target,
            fence_window or self.window,
            token=fence_token,
            run_id=run_id,
            transfer=transfer,
            log=self.log,
        )
        """This run's warehouse fence on the target (token 0: disabled)."""
        self._staging_owned = False
        for column in (*self.clustering, *([partitioning.column] if partitioning else [])):
            mapping.field(column)  # ConfigError naming the unmapped column
        if counters is not None:
            connector.track_costs(counters)
        self._workdir: Path | None = None
        self._writer: LoadFileWriter | None = None
        self._uris: list[str] = []
        self._loads_uris = False
        """`load_uris` was called (even with no URIs): the source is gs:// files."""
        self._uri_format = "NEWLINE_DELIMITED_JSON"
        self._staged_objects: list[str] = []
        self.created_target = False
        self.staged_rows = 0
        self.last_load_job_id: str | None = None

    @property
    def job_prefix(self) -> str:
        return f"etl_{self.name}_{run_tag(self.run_id)}_"

    # --- cleansing -----------------------------------------------------------------

    def claim(self) -> list[str]:
        """Claim the target in the warehouse fence (``pre_execution_cleansing``); raises
        `FencedOutError` at once when a newer run claimed an overlapping window."""
        return self.fence.claim(self.ledger)

    def stale_staging(self) -> list[str]:
        """The staging of this target that the ledger recorded for runs that are gone:
        what `drop_stale_staging` drops (and ``pipeline --plan`` lists)."""
        stale = self.ledger.stale_staging(self.connector.name, str(self.target))
        return [n for n in stale if self.connector.table_ref(n) != self.staging]

    def drop_stale_staging(self) -> list[str]:
        """Drop the staging tables (and staged GCS files) of this target that the ledger
        recorded for runs that are gone; return the staging table names dropped."""
        connection = self.connector.name
        dropped = []
        for name in self.stale_staging():
            ref = self.connector.table_ref(name)
            if self.connector.delete_table(ref):
                dropped.append(ref.table)
                self.log.warning("dropped staging table %s left by an earlier run", ref)
            if self.connector.config.staging_bucket:
                with self._gcs() as gcs:
                    for info in gcs.list_objects(f"{self._gcs_prefix()}/{ref.table}/"):
                        gcs.delete(info.uri)
                        self.log.warning("deleted staged file %s left by an earlier run", info.uri)
            self.ledger.staging_dropped(connection, name)
        return dropped

    # --- prepare -------------------------------------------------------------------

    def prepare(self) -> bool:
        """Ensure the datasets and the target exist (created partitioned/clustered) and
        that the target's schema fits the mapping. Returns whether the target was created."""
        bigquery = _bigquery()
        self.connector.ensure_dataset(self.target.project, self.target.dataset)
        if self.staging.dataset != self.target.dataset:
            self.connector.ensure_dataset(self.staging.project, self.staging.dataset)
        existing = self.connector.get_table(self.target)
        if existing is None:
            table = bigquery.Table(
                str(self.target), schema=schema_fields(self.mapping, self.column_descriptions)
            )
            if self.partitioning is not None:
                p = self.partitioning
                table.time_partitioning = bigquery.TimePartitioning(
                    type_=p.granularity,
                    field=p.column,
                    expiration_ms=int(p.expiration_days * 86_400_000)
                    if p.expiration_days
                    else None,
                )
                table.require_partition_filter = p.require_filter or None
            if self.clustering:
                table.clustering_fields = list(self.clustering)
            if self.description:
                table.description = self.description
            self.connector.create_table(table)
            self.created_target = True
            self.log.info("created target table %s", self.target)
        else:
            check_target_schema(str(self.target), existing.schema, self.mapping)
        return self.created_target

    # --- load ----------------------------------------------------------------------

    def load(self, rows: Iterable[Sequence[Any]]) -> int:
        """Append mapped rows (tuples in mapping column order) to the run's load file."""
        if self._loads_uris:
            raise ConfigError("a strategy loads either rows or gs:// files, not both")
        count = self._open_writer().write(self._tracking_nulls(rows))
        self.staged_rows += count
        return count

    def _tracking_nulls(self, rows: Iterable[Sequence[Any]]) -> Iterator[Sequence[Any]]:
        """The rows, noting which columns have a value (free: only until each has one)."""
        never_set = self._never_set
        for row in rows:
            if never_set:
                never_set.difference_update([i for i in never_set if row[i] is not None])
            yield row

    def _open_writer(self) -> LoadFileWriter:
        if self._writer is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="etl-bq-"))
            suffix = "parquet" if self.file_format == "parquet" else "ndjson"
            self._writer = LoadFileWriter(
                self._workdir / f"{self.target.table}.{suffix}", self.mapping, self.file_format
            )
        return self._writer

    def load_uris(
        self,
        uris: Sequence[str],
        *,
        source_format: str = "NEWLINE_DELIMITED_JSON",
    ) -> None:
        """Use ``gs://`` files whose records already have the target's column names."""
        if self._writer is not None:
            raise ConfigError("a strategy loads either rows or gs:// files, not both")
        self._loads_uris = True
        self._uris.extend(uris)
        self._uri_format = SOURCE_FORMATS.get(source_format, source_format)

    def _load_config(self, schema: Sequence[Any], disposition: str, create: str) -> Any:
        bigquery = _bigquery()
        fmt = self._uri_format if self._uris else SOURCE_FORMATS[self.file_format]
        config = bigquery.LoadJobConfig(
            source_format=fmt,
            write_disposition=disposition,
            create_disposition=create,
            schema=list(schema),
        )
        if fmt == "PARQUET":
            config.decimal_target_types = ["NUMERIC", "BIGNUMERIC"]
        if fmt == "NEWLINE_DELIMITED_JSON":
            config.ignore_unknown_values = bool(self._uris)
        return config

    def _run_load(self, destination: TableRef, config: Any) -> int:
        """ONE load job of everything loaded so far into ``destination``; rows loaded."""
        if self._uris:
            job = self.connector.load_uris(
                self._uris, destination, config, job_id_prefix=self.job_prefix
            )
            self.last_load_job_id = job.job_id
            self.staged_rows = int(job.output_rows or 0)
            return self.staged_rows
        # No rows at all (or no gs:// files): load an empty file, so publish stays uniform;
        # the guards have run before.
        writer = self._open_writer()
        writer.close()
        if self.connector.config.staging_bucket:
            uri = self._stage_in_gcs(writer.path)
            job = self.connector.load_uris(
                [uri], destination, config, job_id_prefix=self.job_prefix
            )
        else:
            job = self.connector.load_file(
                writer.path, destination, config, job_id_prefix=self.job_prefix
            )
        self.last_load_job_id = job.job_id
        loaded = int(job.output_rows or 0)
        if loaded != writer.rows:
            raise GuardError(
                "load", f"load job wrote {loaded} rows into {destination}, expected {writer.rows}"
            )
        return loaded

    def _gcs_prefix(self) -> str:
        prefix = (self.connector.config.staging_bucket or "").rstrip("/")
        if prefix.count("/") < 3:
            prefix += "/etl-staging"
        return prefix

    def _gcs(self) -> GcsConnector:
        from etl_framework.connectors.gcs import GcsConfig, GcsConnector

        return GcsConnector(
            f"{self.connector.name}-staging",
            GcsConfig(
                project=self.connector.config.project,
                credentials_file=self.connector.config.credentials_file,
            ),
        )

    def _stage_in_gcs(self, path: Path) -> str:
        """Upload the load file under ``<staging_bucket>/<staging table>/`` (resumable)."""
        uri = f"{self._gcs_prefix()}/{self.staging.table}/{uuid.uuid4().hex[:8]}-{path.name}"
        with self._gcs() as gcs:
            gcs.upload_file(path, uri)
        self._staged_objects.append(uri)
        return uri

    def _create_staging(self) -> None:
        """Record the staging table in the ledger, then create it (a plain create: a
        table of that name this run did not create is an error and is left alone)."""
        bigquery = _bigquery()
        if self._staging_owned:  # staged before in this run: ours to replace
            self.connector.delete_table(self.staging)
        table = bigquery.Table(str(self.staging), schema=schema_fields(self.mapping))
        table.expires = staging_expiry(self.connector.config.staging_expiration_hours)
        table.labels = {"etl_staging": "true", "etl_run": run_tag(self.run_id)}
        self.ledger.record_staging(self.connector.name, str(self.target), str(self.staging))
        self._staging_owned = True
        try:
            self.connector.create_table(table)
        except Exception:
            if self.connector.get_table(self.staging) is None:
                raise
            self._staging_owned = False
            self.ledger.staging_dropped(self.connector.name, str(self.staging))  # not ours
            raise JobError(
                f"staging table {self.staging} already exists and was not created by this "
                "run; it is left alone (rename or drop it yourself)"
            ) from None

    def _stage(self) -> int:
        """Load everything into a fresh staging table (expiring); rows staged."""
        self._create_staging()
        config = self._load_config(schema_fields(self.mapping), "WRITE_APPEND", "CREATE_NEVER")
        return self._run_load(self.staging, config)

    def _count(self, sql: str, action: str, params: Mapping[str, Any] | None = None) -> int:
        """The number a one-row, one-column guard query returns (0 for no row or NULL)."""
        rows = list(self.connector.query(sql, params, action=action))
        return int(next(iter(rows[0].values())) or 0) if rows else 0

    def _check_guards(self, staged: int, current: int | None = None) -> None:
        """The guards every strategy shares, before the target is touched: ``min_rows``,
        ``min_fraction`` (``current``: the rows the publish replaces) and, for rows loaded
        through Python, ``forbid_all_null``. ``gs://`` files are not read by Python, and
        a query over every staged column would bill their full size: they are not
        checked for all-NULL columns."""
        limits = self.guard_limits
        _guards.check_min_rows(staged, limits.min_rows, "loaded")
        _guards.check_min_fraction(
            staged, current, limits.min_fraction, self.replaced_scope, "loaded"
        )
        if self._writer is not None and staged and self._never_set:
            empty = [self.mapping.columns[i] for i in sorted(self._never_set)]
            raise GuardError(
                "all_null",
                f"column(s) {', '.join(empty)} are NULL in all {staged} loaded rows "
                "(list them in guards.all_null_allowed if that is expected)",
            )

    @property
    def replaced_scope(self) -> str:
        """What the ``min_fraction`` base counts, for guard messages."""
        return f"table {self.target}"

    # --- publish -------------------------------------------------------------------

    @abstractmethod
    def publish(self) -> BigQueryPublishResult:
        """Put the loaded rows into the target, atomically."""

    def _transaction(self, body: Sequence[str]) -> str:
        """ONE multi-statement transaction: the fence check first (with a token), then
        ``body``."""
        return "\n".join(
            ["BEGIN TRANSACTION;", *self.fence.publish_statements(), *body, "COMMIT TRANSACTION;"]
        )

    def _execute_publish(
        self, statement: str, action: str, params: Mapping[str, Any] | None = None
    ) -> Any:
        """Run the publish statement; a fenced-out abort raises `FencedOutError`."""
        params = dict(params or {})
        if self.fence.enabled:
            self.fence.ensure()
            params.update(self.fence.params())
        return self.fence.run(statement, params, action=action, job_id_prefix=self.job_prefix)

    def write(self, rows: Iterable[Sequence[Any]]) -> BigQueryPublishResult:
        self.prepare()
        self.load(rows)
        return self.publish()

    # --- cleanup -------------------------------------------------------------------

    def drop_staging(self) -> None:
        """Drop this run's staging table, staged GCS objects and local files."""
        errors: list[BaseException] = []
        if self._writer is not None:
            self._writer.close()
        if self._staging_owned:
            try:
                self.connector.delete_table(self.staging)
                self._staging_owned = False
                self.ledger.staging_dropped(self.connector.name, str(self.staging))
            except Exception as exc:
                errors.append(exc)
        if self._staged_objects:
            with self._gcs() as gcs:
                for uri in self._staged_objects:
                    try:
                        gcs.delete(uri)
                    except Exception as exc:
                        errors.append(exc)
            self._staged_objects = []
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        if errors:
            raise errors[0]

    # --- the plan (pipeline --plan) ---------------------------------------------------

    def describe(self) -> list[PlannedStatement]:
        """The steps and statements a run executes, in order, executing none (BigQuery is
        not called): the guard queries and the publish statement come from the builders
        the run uses, with their query parameters."""
        from etl_framework.load.planned import PlannedStatement, step

        out = []
        if self.fence.enabled:
            out.append(
                step(
                    f"fence: claim {self.target} window {self.fence.window} with the lease's token"
                )
            )
        out.append(step("drop the staging tables the ledger recorded for runs that are gone"))
        out.append(
            step(
                f"ensure datasets {self.target.dataset}"
                + (
                    f", {self.staging.dataset}"
                    if self.staging.dataset != self.target.dataset
                    else ""
                )
                + f"; create {self.target} from the mapping if it is missing, else check its schema"
            )
        )
        out.append(step(f"rows from the source into a local {self.file_format} load file"))
        for sql, params, note in self._planned_queries():
            out.append(PlannedStatement(sql, dict(params), note))
        if self.fence.enabled:
            out.append(step("fence_* query parameters: this run's target, window and token"))
        out.append(
            PlannedStatement(self.publish_statement(), dict(self._publish_params()), "publish")
        )
        out.append(step(f"delete the staging table {self.staging} (and its staged files)"))
        return out

    def _stage_steps(self) -> list[tuple[str, Mapping[str, Any], str]]:
        hours = self.connector.config.staging_expiration_hours
        staged = "gs:// staging bucket" if self.connector.config.staging_bucket else "upload"
        return [
            ("", {}, f"create staging table {self.staging} (expires in {hours:g} h)"),
            ("", {}, f"load job ({staged}, WRITE_APPEND) of the load file into {self.staging}"),
        ]

    def _planned_queries(self) -> list[tuple[str, Mapping[str, Any], str]]:
        """Staging, load job and guard queries in the order `publish` runs them."""
        return self._stage_steps()

    def _publish_params(self) -> Mapping[str, Any]:
        return {}

    @abstractmethod
    def publish_statement(self) -> str:
        """The publish statement (one transaction or MERGE)."""

    # --- SQL helpers ---------------------------------------------------------------

    def _columns_sql(self, alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(f"{prefix}`{c}`" for c in self.mapping.columns)


__all__ = ["BigQueryPublishResult", "BigQueryWriteStrategy"]
