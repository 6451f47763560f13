"""`BigQueryTransferJob`: a declarative transfer of records (or GCS files) into BigQuery.

The BigQuery sibling of `TableTransferJob`::

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
truncate   `BigQueryReplaceTableStrategy`: staging + DELETE/INSERT transaction (table kept)
delta      ``delta_strategy``: ``replace_window`` (staging + DELETE/INSERT transaction,
           needs ``window_column``) or ``merge`` (staging + MERGE on ``key_columns``)
=========  ===============================================================================

``pre_execution_cleansing`` claims the target in the warehouse fence and drops the
staging the ledger recorded for crashed runs, ``pipeline`` streams ``source()``
through the mapping into a load file (or takes the ``gs://`` files of
`source_uris`), loads and publishes atomically, and ``post_execution_cleanup`` drops
this run's staging table and files, after success and failure alike. The run's
BigQuery costs land in the run's counters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, Field, model_validator
from typing_extensions import TypeVar

from etl_framework.load.bigquery.schema import Partitioning
from etl_framework.load.guards import GuardConfig
from etl_framework.transfers.declarative import DeclarativeTransferJob, TargetOptions
from etl_framework.window import WriteMode

if TYPE_CHECKING:
    from etl_framework.config import FrameworkConfig
    from etl_framework.connectors.bigquery import BigQueryConnector
    from etl_framework.load.bigquery.base import BigQueryPublishResult, BigQueryWriteStrategy

BigQueryDeltaStrategy = Literal["replace_window", "merge"]


class BigQueryTransferOptions(TargetOptions):
    """``transfers.<name>`` options every `BigQueryTransferJob` accepts.

    ``connection`` names a ``type: bigquery`` connection; ``table`` is
    ``[project.]dataset.table``.
    """

    file_format: Literal["parquet", "ndjson"] | None = None
    """Load file format (default: the connection's)."""
    guards: GuardConfig = Field(default_factory=GuardConfig)
    """The guards, with the same defaults as a SQL transfer's (`GuardConfig`)."""
    description: str | None = None
    """Table description set when the target is created."""

    @model_validator(mode="before")
    @classmethod
    def _moved_min_rows(cls, data: Any) -> Any:
        if isinstance(data, dict) and "min_rows" in data:
            raise ValueError(
                "min_rows moved under guards: write guards: {min_rows: N} (the default is "
                "now 1 for truncate, as on SQL)"
            )
        return data


BigQueryOptionsT = TypeVar(
    "BigQueryOptionsT", bound=BigQueryTransferOptions, default=BigQueryTransferOptions
)


class BigQueryTransferJob(DeclarativeTransferJob["BigQueryWriteStrategy", BigQueryOptionsT]):
    """Records from ``source()`` (or files from `source_uris`) into one BigQuery table.

    Must override: `source` (or `source_uris`), and declare `target_table` and `mapping`.
    May override: the other class attributes, `transform`.
    """

    # --- declarations (the rest: DeclarativeTransferJob) -----------------------------

    target_connection: ClassVar[str] = "bigquery"
    target_connection_type: ClassVar[str] = "bigquery"
    delta_strategy: ClassVar[BigQueryDeltaStrategy] = "replace_window"
    partitioning: ClassVar[Partitioning | None] = None
    """Partitioning of a target the run creates (default: DAY on `window_column`)."""
    clustering: ClassVar[tuple[str, ...]] = ()
    options_model: ClassVar[type[BaseModel]] = BigQueryTransferOptions

    @classmethod
    def config_problems(
        cls, config: FrameworkConfig, options: BigQueryOptionsT
    ) -> list[tuple[str, str]]:
        """Also the target table's name (``[project.]dataset.table``), before the run."""
        from etl_framework.connectors.bigquery import BigQueryConfig, parse_table_ref
        from etl_framework.exceptions import ConfigError

        problems = super().config_problems(config, options)
        connection, table, path = cls.configured_target(config, options)
        if problems or not table or not isinstance(connection, BigQueryConfig):
            return problems
        try:  # the project only matters when the name gives none: any valid id will do
            parse_table_ref(table, connection.project or "default-project", connection.dataset)
        except ConfigError as exc:
            return [*problems, (path, str(exc))]
        return problems

    def source_uris(self) -> Sequence[str] | None:
        """``gs://`` NDJSON files already in the target's shape (column names), loaded
        without passing through Python; None (default): use `source`."""
        return None

    # --- lifecycle (cleansing and cleanup: DeclarativeTransferJob) -------------------

    def pipeline(self) -> None:
        """Load the records (or files) and publish them in one atomic step."""
        strategy = self.strategy
        uris = self.source_uris()
        if uris is not None:
            strategy.prepare()
            strategy.load_uris(list(uris))
        else:
            rows = self.ready_rows(self.mapping.rows(self.records()))
            strategy.prepare()
            strategy.load(rows)
        result = strategy.publish()
        self.context.counters.add_written(result.inserted)
        self.published = result

    # --- building blocks -----------------------------------------------------------------

    published: BigQueryPublishResult | None = None

    @property
    def connector(self) -> BigQueryConnector:
        from etl_framework.connectors.bigquery import BigQueryConnector

        connector = self.context.connections.get(self.connection_name, BigQueryConnector)
        connector.track_costs(self.context.counters)  # every job's cost, once per run
        return connector

    def build_strategy(self) -> BigQueryWriteStrategy:
        from etl_framework.load.contract import StrategyKind, strategy_class

        options = self.options
        partitioning = self.partitioning
        if partitioning is None and self.window_column is not None:
            partitioning = Partitioning(column=self.window_column)
        common: dict[str, Any] = {
            **self.run_strategy_options(),
            "window": self.context.window,
            "partitioning": partitioning,
            "clustering": self.clustering,
            "description": options.description,
            "file_format": options.file_format,
            "guards": options.guards,
            "counters": self.context.counters,
            "log": self.context.logger,
        }
        args = (self.connector, self.table, self.mapping)
        strategy: BigQueryWriteStrategy
        if self.context.mode is WriteMode.TRUNCATE:
            strategy = strategy_class("bigquery", StrategyKind.REPLACE_TABLE)(*args, **common)
        elif self.delta_strategy == "merge":
            strategy = strategy_class("bigquery", StrategyKind.MERGE)(
                *args, key_columns=self.key_columns, **common
            )
        else:
            strategy = strategy_class("bigquery", StrategyKind.REPLACE_WINDOW)(
                *args, window_column=self.require_window_column(), **common
            )
        return strategy


__all__ = ["BigQueryDeltaStrategy", "BigQueryTransferJob", "BigQueryTransferOptions"]
