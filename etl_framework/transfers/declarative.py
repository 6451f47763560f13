"""`DeclarativeTransferJob`: what every declarative transfer into one table shares.

A declarative transfer states its target (connection and table), a field mapping,
a window column for delta runs and key columns for merges, and yields records from
``source()``; a write strategy does the loading. The SQL (`TableTransferJob`) and
BigQuery (`BigQueryTransferJob`) bases differ only in their connector, options and
strategies, which they supply through their options model, `connector` and
`build_strategy`.

Shared here, in one place:

- declarations and their checks at class creation (supported modes follow from the
  delta strategy and window column; the window column must be a date or timestamp);
- `records`: ``source()`` through `transform`, counted as read;
- ``pre_execution_cleansing``: claim the target in the warehouse fence (a run whose
  lease a newer run took over stops here, exit 4), then drop the staging the ledger
  recorded for crashed runs (never a live run's, never a table it did not record);
- ``post_execution_cleanup``: drop this run's staging, after success and failure;
- `run_strategy_options`: what every strategy needs of the run (ledger, fencing token).
"""

from __future__ import annotations

import itertools
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol

from pydantic import BaseModel, ConfigDict
from typing_extensions import TypeVar

from etl_framework.exceptions import ConfigError, NoDataYetError, RegistryError
from etl_framework.job import ETLJob, Outcome
from etl_framework.mapping import FieldMapping
from etl_framework.window import WINDOW_KINDS, WriteMode

if TYPE_CHECKING:
    from etl_framework.config import FrameworkConfig
    from etl_framework.connections import ConnectorConfig

_READ_COUNT_EVERY = 1000


class TargetOptions(BaseModel):
    """``transfers.<name>`` options naming the target; every declarative transfer's
    options model extends this."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connection: str | None = None
    """Name of the target connection (default: the class's ``target_connection``)."""
    table: str | None = None
    """The target table (default: the class's ``target_table``)."""


class StagingStrategy(Protocol):
    """What the lifecycle needs of a write strategy: the fence and staging housekeeping."""

    def claim(self) -> list[str]: ...

    def drop_stale_staging(self) -> list[str]: ...

    def drop_staging(self) -> None: ...


StrategyT = TypeVar("StrategyT", bound=StagingStrategy)
RowT = TypeVar("RowT")
TargetOptionsT = TypeVar("TargetOptionsT", bound=TargetOptions, default=TargetOptions)


class DeclarativeTransferJob(ETLJob[TargetOptionsT], Generic[StrategyT, TargetOptionsT]):
    """Records from ``source()`` into one table, through a field mapping.

    Subclasses (the ready bases) implement `pipeline`, `connector` and
    `build_strategy`; transfers declare the class attributes and `source`.
    ``self.options`` is the transfer's options model (a `TargetOptions`).
    """

    # --- declarations -------------------------------------------------------------

    target_connection: ClassVar[str] = ""
    """The connection (config ``connections.<name>``) of the target."""
    target_connection_type: ClassVar[str] = ""
    """The connection type the target needs (``sql``, ``bigquery``), checked up front."""
    target_table: ClassVar[str] = ""
    """The target table."""
    mapping: ClassVar[FieldMapping]
    """``(source_path, target_column, column_type)`` of every target column."""
    window_column: ClassVar[str | None] = None
    """Date/timestamp column that delta runs replace ``[start, end)`` of."""
    key_columns: ClassVar[tuple[str, ...]] = ()
    """Merge keys (default: the mapping's primary key columns)."""
    delta_strategy: ClassVar[str] = "replace_window"
    """How a delta run writes (``replace_window`` needs `window_column`)."""
    empty_means_not_ready: ClassVar[bool] = False
    """An empty source for the window means "not published yet" (e.g. an API that
    publishes yesterday's data at 06:00): the run exits 75 (`NoDataYetError`) and
    publishes nothing, instead of failing a guard (exit 1) or publishing nothing."""
    options_model: ClassVar[type[BaseModel]] = TargetOptions
    _modes_declared: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "supported_modes" in cls.__dict__:
            cls._modes_declared = True
        elif not cls._modes_declared:
            # Without a window column a delta run has nothing to replace.
            needs_window = cls.delta_strategy == "replace_window" and cls.window_column is None
            cls.supported_modes = (
                frozenset({WriteMode.TRUNCATE}) if needs_window else frozenset(WriteMode)
            )
        mapping = getattr(cls, "mapping", None)
        if mapping is not None and not isinstance(mapping, FieldMapping):
            raise RegistryError(f"{cls.__name__}.mapping must be a FieldMapping")
        if mapping is not None and cls.window_column is not None:
            kind = mapping.field(cls.window_column).type.kind
            if kind not in WINDOW_KINDS:
                raise RegistryError(
                    f"{cls.__name__}.window_column {cls.window_column!r} is {kind}; "
                    "it must be date, timestamp or timestamptz"
                )

    @classmethod
    def config_problems(
        cls, config: FrameworkConfig, options: TargetOptionsT
    ) -> list[tuple[str, str]]:
        """The target connection exists and has the right type (before anything runs)."""
        chosen = options.connection
        name = chosen or cls.target_connection
        path = f"transfers.{cls.transfer_name}.connection" if chosen else "connections"
        return [
            *super().config_problems(config, options),
            *config.connection_problems(name, cls.target_connection_type, path),
        ]

    @classmethod
    def write_targets(cls, config: FrameworkConfig, options: TargetOptionsT) -> frozenset[str]:
        """The target table's canonical key (its connection's identity, no credentials)."""
        from etl_framework.state.targets import target_key

        name = options.connection or cls.target_connection
        table = options.table or cls.target_table
        connection = config.connections.get(name)
        if not table or connection is None:
            return frozenset()
        return frozenset({target_key(name, connection, table)})

    @classmethod
    def configured_target(
        cls, config: FrameworkConfig, options: BaseModel | None
    ) -> tuple[ConnectorConfig | None, str, str]:
        """The target's connection config (None if missing), table and the config path
        that names the table (for problems found before the run)."""
        chosen = options if isinstance(options, TargetOptions) else TargetOptions()
        connection = config.connections.get(chosen.connection or cls.target_connection)
        path = (
            f"transfers.{cls.transfer_name}.table"
            if chosen.table
            else f"{cls.__module__}.{cls.__qualname__}.target_table"
        )
        return connection, chosen.table or cls.target_table, path

    # --- the source ----------------------------------------------------------------

    def source(self) -> Iterable[Mapping[str, Any]]:
        """The run's records (a generator: it is consumed once, streaming).

        For delta runs yield the records of ``self.context.window``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement source()")

    def transform(self, record: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Change a record before mapping, or return None to skip it. Default: as is."""
        return record

    def records(self) -> Iterator[Mapping[str, Any]]:
        """`source` records after `transform`, counted as read."""
        counters = self.context.counters
        transform = (
            None if type(self).transform is DeclarativeTransferJob.transform else (self.transform)
        )
        pending = 0
        try:
            for record in self.source():
                pending += 1
                if pending == _READ_COUNT_EVERY:
                    counters.add_read(pending)
                    pending = 0
                if transform is None:
                    yield record
                    continue
                changed = transform(record)
                if changed is not None:
                    yield changed
        finally:  # a failed run still reports the rows it read
            if pending:
                counters.add_read(pending)

    def ready_rows(self, rows: Iterable[RowT]) -> Iterator[RowT]:
        """``rows`` unchanged; if `empty_means_not_ready` and there are none, raise
        `NoDataYetError` before the strategy has created or published anything."""
        iterator = iter(rows)
        if not self.empty_means_not_ready:
            return iterator
        try:
            first = next(iterator)
        except StopIteration:
            raise NoDataYetError(self.context.transfer, str(self.context.window)) from None
        return itertools.chain([first], iterator)

    # --- lifecycle -------------------------------------------------------------------

    def pre_execution_cleansing(self) -> None:
        """Claim the target in the warehouse fence, then drop the staging of the target
        that the ledger recorded for crashed runs (never a live run's)."""
        reconciled = self.strategy.claim()
        if reconciled:
            self.context.counters.add("runs_reconciled", len(reconciled))
        dropped = self.strategy.drop_stale_staging()
        if dropped:
            self.context.counters.add("stale_staging_dropped", len(dropped))

    def post_execution_cleanup(self, outcome: Outcome) -> None:
        """Drop this run's staging, after success and failure alike."""
        if self._strategy is not None:
            self._strategy.drop_staging()
        if not outcome.succeeded:
            self.context.logger.info("nothing was published: the target is unchanged")

    # --- building blocks -------------------------------------------------------------

    _strategy: StrategyT | None = None

    @property
    def table(self) -> str:
        """The target table: config ``transfers.<name>.table`` or `target_table`."""
        table = self.options.table or self.target_table
        if not table:
            raise ConfigError(
                f"transfer {self.context.transfer!r} has no target table: set target_table "
                f"or transfers.{self.context.transfer}.table"
            )
        return table

    @property
    def connection_name(self) -> str:
        """The target connection: config ``transfers.<name>.connection`` or the class's."""
        return self.options.connection or self.target_connection

    @property
    def strategy(self) -> StrategyT:
        """The run's write strategy (built once per run)."""
        if self._strategy is None:
            if not isinstance(getattr(self, "mapping", None), FieldMapping):
                raise RegistryError(f"{type(self).__name__} declares no mapping (a FieldMapping)")
            self._strategy = self.build_strategy()
        return self._strategy

    @abstractmethod
    def build_strategy(self) -> StrategyT:
        """The write strategy for this run's mode (with `run_strategy_options`)."""

    def run_strategy_options(self) -> dict[str, Any]:
        """Keyword arguments every write strategy takes from the run: its id, the ledger
        (staging records), and the fencing token, transfer and window of the fence."""
        context = self.context
        return {
            "run_id": context.run_id,
            "ledger": context.ledger,
            "fence_token": context.fence_token,
            "fence_window": context.window,
            "transfer": context.transfer,
        }

    def require_window_column(self) -> str:
        """The window column, or a configuration error for a delta that needs one."""
        if self.window_column is None:
            raise ConfigError(f"transfer {self.context.transfer!r}: delta needs window_column")
        return self.window_column


__all__ = ["DeclarativeTransferJob", "StagingStrategy", "TargetOptions"]
