"""`TableTransferJob`: a declarative transfer of records into one SQL table.

Declare where records come from and where they go; the three lifecycle methods are
implemented with the write strategies of `etl_framework.load`::

    @register("orders")
    class OrdersJob(TableTransferJob):
        target_table = "orders"                      # in connection "warehouse"
        mapping = FieldMapping.from_tuples([
            ("id", "order_id", "bigint primary key"),
            ("customer__name", "customer_name", "text"),
            ("created_at", "order_date", "date not null"),
        ])
        window_column = "order_date"                 # delta: replace [start, end)

        def source(self) -> Iterable[Mapping[str, Any]]:
            return api_records(since=self.context.window.start)

What each mode does:

=========  ===========================================================================
truncate   `ReplaceTableStrategy`: staging replaces every row of the target.
delta      ``delta_strategy``: ``replace_window`` (default; needs ``window_column``),
           ``merge`` (upsert on ``key_columns``) or ``append`` (not idempotent).
=========  ===========================================================================

``pre_execution_cleansing`` claims the target in the warehouse fence and drops the
staging the ledger recorded for crashed runs (never a live run's), ``pipeline``
streams ``source()`` through the mapping into staging, checks the guards and
publishes in one transaction (the fence first), and ``post_execution_cleanup`` drops
this run's staging, after success and failure.

Config (``transfers.<name>``, model `TableTransferOptions`; subclass it for your own
options and parameterise the job with it, ``TableTransferJob[MyOptions]``) may
override the table and connection and tune guards. A job with special needs subclasses
`ETLJob` directly.
"""

from __future__ import annotations

import datetime as dt
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, Field
from typing_extensions import TypeVar

from etl_framework.load.guards import GuardConfig
from etl_framework.load.sql.bulk import DEFAULT_BATCH_SIZE
from etl_framework.mapping import FieldMapping
from etl_framework.transfers.declarative import DeclarativeTransferJob, TargetOptions
from etl_framework.window import WriteMode

if TYPE_CHECKING:
    from etl_framework.config import FrameworkConfig
    from etl_framework.connectors.sql import SqlConnector
    from etl_framework.load.sql.base import PublishResult, WriteStrategy

DeltaStrategy = Literal["replace_window", "merge", "append"]


class TableTransferOptions(TargetOptions):
    """``transfers.<name>`` options every `TableTransferJob` accepts.

    ``connection`` names a ``type: sql`` connection; ``table`` is ``table`` or
    ``schema.table``.
    """

    guards: GuardConfig = Field(default_factory=GuardConfig)
    add_missing_columns: bool = False
    """Add mapped columns the existing target lacks (nullable ones only)."""
    replace_method: Literal["delete", "truncate"] = "delete"
    """How a full refresh empties the target inside the publish transaction."""
    publish: Literal["staging", "direct"] = "staging"
    """staging: load a staging table, publish in a short transaction (default).
    direct: one transaction deletes, streams rows into the target and commits; ~1.3x
    faster, but the target's replaced rows stay locked for the whole load
    (truncate and replace_window only; see docs/loading.md)."""
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1)


TableOptionsT = TypeVar("TableOptionsT", bound=TableTransferOptions, default=TableTransferOptions)


class TableTransferJob(DeclarativeTransferJob["WriteStrategy", TableOptionsT]):
    """Records from ``source()`` into one SQL table, through a field mapping.

    ``TableTransferJob[MyOptions]`` (``MyOptions`` extends `TableTransferOptions`)
    makes ``self.options`` a ``MyOptions``.

    Must override: `source`, and declare `target_table` and `mapping`.
    May override: the other class attributes, `records`, `transform`.
    Must not override: `run` and the three lifecycle methods (they are the point).
    """

    # --- declarations (the rest: DeclarativeTransferJob) -----------------------------

    target_connection: ClassVar[str] = "warehouse"
    target_connection_type: ClassVar[str] = "sql"
    """The ``type: sql`` connection (config ``connections.<name>``) of the target."""
    index_columns: ClassVar[tuple[str, ...]] = ()
    """Columns indexed when the target is created (the window column always is)."""
    delta_strategy: ClassVar[DeltaStrategy] = "replace_window"
    """How a delta run writes: replace its window, merge on keys, or append."""
    filter_to_window: ClassVar[bool] = False
    """Delta with replace_window: drop records outside the window instead of failing
    (for sources that cannot filter, e.g. a full file export)."""
    options_model: ClassVar[type[BaseModel]] = TableTransferOptions

    @classmethod
    def config_problems(
        cls, config: FrameworkConfig, options: TableOptionsT
    ) -> list[tuple[str, str]]:
        """Also the target table, before the run touches anything: a valid identifier,
        not in a temporary schema, its schema exists, no table differs from it only by
        case (the database is only read; see `etl_framework.load.sql.target_check`)."""
        from etl_framework.connectors.sql import SqlConfig
        from etl_framework.load.sql.target_check import target_problems

        problems = super().config_problems(config, options)
        connection, table, path = cls.configured_target(config, options)
        if problems or not table or not isinstance(connection, SqlConfig):
            return problems
        found = target_problems(
            connection.url.get_secret_value(), table, dict(connection.connect_args)
        )
        return problems + [(path, message) for message in found]

    @abstractmethod
    def source(self) -> Iterable[Mapping[str, Any]]:
        """The run's records (a generator: it is consumed once, streaming).

        For delta runs yield the records of ``self.context.window`` (unless
        `filter_to_window` is set).
        """

    # --- lifecycle (cleansing and cleanup: DeclarativeTransferJob) -------------------

    def pipeline(self) -> None:
        """Stream records into staging, check guards, publish in one transaction."""
        strategy = self.strategy
        result = strategy.write(self.ready_rows(self.rows()))
        check = strategy.schema_check
        if check is not None and check.created:
            self.context.logger.info("created target table %s", strategy.target)
        if check is not None and check.added_columns:
            self.context.logger.info(
                "added columns %s to %s", ", ".join(check.added_columns), strategy.target
            )
        self.context.counters.add_written(result.inserted)
        if result.deleted > 0:
            self.context.counters.add("rows_deleted", result.deleted)
        self.published = result

    # --- building blocks -------------------------------------------------------------

    published: PublishResult | None = None

    @property
    def connector(self) -> SqlConnector:
        from etl_framework.connectors.sql import SqlConnector

        return self.context.connections.get(self.connection_name, SqlConnector)

    def build_strategy(self) -> WriteStrategy:
        from etl_framework.load.contract import StrategyKind, strategy_class

        options = self.options
        common: dict[str, Any] = {
            **self.run_strategy_options(),
            "key_columns": self.key_columns,
            # delta deletes by the window column: index it so a window costs what it holds
            "index_columns": tuple(
                dict.fromkeys([*self.index_columns, *filter(None, [self.window_column])])
            ),
            "guards": options.guards,
            "add_missing_columns": options.add_missing_columns,
            "batch_size": options.batch_size,
            "log": self.context.logger,
        }
        args = (self.connector, self.table, self.mapping)
        direct = options.publish == "direct"
        if self.context.mode is WriteMode.TRUNCATE:
            strategy: WriteStrategy = strategy_class("sql", StrategyKind.REPLACE_TABLE)(
                *args, method=options.replace_method, direct=direct, **common
            )
            return strategy
        if self.delta_strategy in ("merge", "append") and direct:
            # The same options serve truncate runs, where direct applies: not an error.
            self.context.logger.warning(
                "publish: direct has no effect on %s delta runs (they always stage)",
                self.delta_strategy,
            )
        kind = StrategyKind(self.delta_strategy)
        if kind is not StrategyKind.REPLACE_WINDOW:
            strategy = strategy_class("sql", kind)(*args, **common)
            return strategy
        strategy = strategy_class("sql", kind)(
            *args,
            window=self.context.window,
            window_column=self.require_window_column(),
            direct=direct,
            **common,
        )
        return strategy

    def rows(self) -> Iterator[Sequence[Any]]:
        """Mapped row tuples, filtered to the window when `filter_to_window` applies."""
        rows = self.mapping.rows(self.records())
        window = self.context.window
        if (
            self.filter_to_window
            and self.window_column is not None
            and self.context.mode is WriteMode.DELTA
            and self.delta_strategy == "replace_window"
            and not window.is_unbounded
        ):
            return _filter_window(rows, self.mapping, self.window_column, window.start, window.end)
        return iter(rows)


def _filter_window(
    rows: Iterable[tuple[Any, ...]],
    mapping: FieldMapping,
    column: str,
    start: dt.date | None,
    end: dt.date | None,
) -> Iterator[tuple[Any, ...]]:
    from etl_framework.window import window_bound

    index = mapping.columns.index(column)
    kind = mapping.field(column).type.kind
    low = window_bound(start, kind) if start else None
    high = window_bound(end, kind) if end else None
    for row in rows:
        value = row[index]
        if value is None:
            continue
        if (low is None or value >= low) and (high is None or value < high):
            yield row
