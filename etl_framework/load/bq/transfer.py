"""`BigQueryTransferJob`: a declarative transfer of records (or GCS files) into BigQuery.

The BigQuery sibling of `etl_framework.transfers.TableTransferJob`::

    @register("events")
    class EventsJob(BigQueryTransferJob):
        target_table = "analytics.events"            # connection "bigquery"
        mapping = FieldMapping.from_tuples([
            ("id", "event_id", "bigint primary key"),
            ("user__id", "user_id", "bigint"),
            ("ts", "event_date", "date not null"),
        ])
        window_column = "event_date"                 # delta replaces [start, end)
        partitioning = Partitioning(column="event_date")

        def source(self):
            return ndjson_records("gs://exports/events.json")

=========  ===============================================================================
truncate   `BigQueryReplaceTableStrategy`: one WRITE_TRUNCATE load job (metadata kept)
delta      ``delta_strategy``: ``replace_window`` (staging + DELETE/INSERT transaction,
           needs ``window_column``) or ``merge`` (staging + MERGE on ``key_columns``)
=========  ===============================================================================

``pre_execution_cleansing`` drops staging of crashed runs with an overlapping window,
``pipeline`` streams ``source()`` through the mapping into a load file (or takes the
``gs://`` files of `source_uris`), loads and publishes atomically, and
``post_execution_cleanup`` drops this run's staging table and files, after success
and failure alike. The run's BigQuery costs land in the run's counters.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from etl_framework.exceptions import ConfigError, RegistryError
from etl_framework.job import ETLJob, Outcome
from etl_framework.load.bq.schema import Partitioning
from etl_framework.mapping import ColumnKind, FieldMapping
from etl_framework.window import WriteMode

if TYPE_CHECKING:
    from etl_framework.connectors.bigquery import BigQueryConnector
    from etl_framework.load.bq.strategies import BigQueryPublishResult, BigQueryWriteStrategy

BigQueryDeltaStrategy = Literal["replace_window", "merge"]


class BigQueryTransferOptions(BaseModel):
    """``transfers.<name>`` options every `BigQueryTransferJob` accepts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connection: str | None = None
    """Name of the ``type: bigquery`` connection (default: the class's)."""
    table: str | None = None
    """Target ``[project.]dataset.table`` (default: the class's)."""
    file_format: Literal["parquet", "ndjson"] | None = None
    """Load file format (default: the connection's)."""
    min_rows: int = Field(default=0, ge=0)
    """Refuse to publish fewer rows (a truncate with an empty source empties the table)."""
    description: str | None = None
    """Table description set when the target is created."""


class BigQueryTransferJob(ETLJob):
    """Records from ``source()`` (or files from `source_uris`) into one BigQuery table.

    Must override: `source` (or `source_uris`), and declare `target_table` and `mapping`.
    May override: the other class attributes, `transform`.
    """

    target_connection: ClassVar[str] = "bigquery"
    target_table: ClassVar[str] = ""
    mapping: ClassVar[FieldMapping]
    window_column: ClassVar[str | None] = None
    """DATE/DATETIME/TIMESTAMP column that delta runs replace ``[start, end)`` of."""
    key_columns: ClassVar[tuple[str, ...]] = ()
    """Merge keys (default: the mapping's primary key)."""
    delta_strategy: ClassVar[BigQueryDeltaStrategy] = "replace_window"
    partitioning: ClassVar[Partitioning | None] = None
    """Partitioning of a target the run creates (default: DAY on `window_column`)."""
    clustering: ClassVar[tuple[str, ...]] = ()
    options_model: ClassVar[type[BaseModel] | None] = BigQueryTransferOptions

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "supported_modes" not in cls.__dict__:
            needs_window = cls.delta_strategy == "replace_window" and cls.window_column is None
            cls.supported_modes = (
                frozenset({WriteMode.TRUNCATE}) if needs_window else frozenset(WriteMode)
            )
        mapping = getattr(cls, "mapping", None)
        if mapping is not None and not isinstance(mapping, FieldMapping):
            raise RegistryError(f"{cls.__name__}.mapping must be a FieldMapping")
        if mapping is not None and cls.window_column is not None:
            kind = mapping.field(cls.window_column).type.kind
            if kind not in (ColumnKind.DATE, ColumnKind.TIMESTAMP, ColumnKind.TIMESTAMPTZ):
                raise RegistryError(
                    f"{cls.__name__}.window_column {cls.window_column!r} is {kind}; "
                    "it must be date, timestamp or timestamptz"
                )

    # --- the source ------------------------------------------------------------------

    def source(self) -> Iterable[Mapping[str, Any]]:
        """The run's records (streamed once). Delta: the records of the window."""
        raise NotImplementedError(f"{type(self).__name__} must implement source()")

    def source_uris(self) -> Sequence[str] | None:
        """``gs://`` NDJSON files already in the target's shape (column names), loaded
        without passing through Python; None (default): use `source`."""
        return None

    def transform(self, record: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Change a record before mapping, or return None to skip it."""
        return record

    # --- lifecycle ---------------------------------------------------------------------

    def pre_execution_cleansing(self) -> None:
        dropped = self.strategy.drop_stale_staging(is_live=self.context.is_active_run)
        if dropped:
            self.context.counters.add("stale_staging_dropped", len(dropped))

    def pipeline(self) -> None:
        strategy = self.strategy
        strategy.prepare()
        uris = self.source_uris()
        if uris is not None:
            strategy.load_uris(list(uris))
        else:
            strategy.load(self.mapping.rows(self.records()))
        result = strategy.publish()
        self.context.counters.add_written(result.inserted)
        self.published = result

    def post_execution_cleanup(self, outcome: Outcome) -> None:
        if self._strategy is not None:
            self._strategy.drop_staging()
        if not outcome.succeeded:
            self.context.logger.info("nothing was published: the target is unchanged")

    # --- building blocks -----------------------------------------------------------------

    _strategy: BigQueryWriteStrategy | None = None
    published: BigQueryPublishResult | None = None

    @property
    def options(self) -> BigQueryTransferOptions:
        options = self.context.options
        if isinstance(options, BigQueryTransferOptions):
            return options
        return BigQueryTransferOptions()

    @property
    def table(self) -> str:
        table = self.options.table or self.target_table
        if not table:
            raise ConfigError(
                f"transfer {self.context.transfer!r} has no target table: set target_table "
                f"or transfers.{self.context.transfer}.table"
            )
        return table

    @property
    def connector(self) -> BigQueryConnector:
        from etl_framework.connectors.bigquery import BigQueryConnector

        name = self.options.connection or self.target_connection
        return self.context.connections.get(name, BigQueryConnector)

    @property
    def strategy(self) -> BigQueryWriteStrategy:
        if self._strategy is None:
            self._strategy = self.build_strategy()
        return self._strategy

    def build_strategy(self) -> BigQueryWriteStrategy:
        from etl_framework.load.bq.strategies import (
            BigQueryMergeStrategy,
            BigQueryReplaceTableStrategy,
            BigQueryReplaceWindowStrategy,
        )

        options = self.options
        partitioning = self.partitioning
        if partitioning is None and self.window_column is not None:
            partitioning = Partitioning(column=self.window_column)
        common: dict[str, Any] = {
            "run_id": self.context.run_id,
            "window": self.context.window,
            "partitioning": partitioning,
            "clustering": self.clustering,
            "description": options.description,
            "file_format": options.file_format,
            "min_rows": options.min_rows,
            "counters": self.context.counters,
            "log": self.context.logger,
        }
        args = (self.connector, self.table, self.mapping)
        if self.context.mode is WriteMode.TRUNCATE:
            return BigQueryReplaceTableStrategy(*args, **common)
        if self.delta_strategy == "merge":
            return BigQueryMergeStrategy(*args, key_columns=self.key_columns, **common)
        if self.window_column is None:
            raise ConfigError(f"transfer {self.context.transfer!r}: delta needs window_column")
        return BigQueryReplaceWindowStrategy(*args, window_column=self.window_column, **common)

    def records(self) -> Iterator[Mapping[str, Any]]:
        """`source` records after `transform`, counted as read."""
        counters = self.context.counters
        pending = 0
        for record in self.source():
            pending += 1
            if pending == 1000:
                counters.add_read(pending)
                pending = 0
            changed = self.transform(record)
            if changed is not None:
                yield changed
        if pending:
            counters.add_read(pending)


__all__ = ["BigQueryDeltaStrategy", "BigQueryTransferJob", "BigQueryTransferOptions"]
