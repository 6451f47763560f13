"""`SqlSourceTransferJob`: a `TableTransferJob` whose records are the rows of one query.

Declare the source query (``:start``/``:end`` are the run's window bounds, bound as
parameters) and, for ``pipeline --skip-unchanged``, a fingerprint query whose result
changes whenever the source's rows may have::

    @register("orders_copy")
    class OrdersCopy(SqlSourceTransferJob):
        source_connection = "shop"                   # a type: sql connection
        source_query = "SELECT id, total, day FROM orders WHERE day >= :start AND day < :end"
        fingerprint_query = "SELECT max(updated_at), count(*) FROM orders"
        target_table = "orders_copy"
        mapping = FieldMapping.from_tuples([...])
        window_column = "day"

Config (``transfers.<name>.source``) may set or override ``connection``, ``query`` and
``fingerprint_query``. Without a fingerprint query the transfer has no source
fingerprint and never skips; the framework runs it (`source_fingerprint`), job authors
do not call `etl_framework.sources.fingerprints.query_fingerprint` themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypeVar

from etl_framework.sources.sql import DEFAULT_FETCH_ROWS
from etl_framework.transfers.table import TableTransferJob, TableTransferOptions

if TYPE_CHECKING:
    from etl_framework.config import FrameworkConfig
    from etl_framework.window import Window


class SqlSourceConfig(BaseModel):
    """``transfers.<name>.source`` of a `SqlSourceTransferJob` (each overrides the
    class attribute of the same meaning)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connection: str | None = None
    """The ``type: sql`` connection read from (default: ``source_connection``)."""
    query: str | None = None
    """The source query (default: ``source_query``)."""
    fingerprint_query: str | None = None
    """A query whose result is the source's fingerprint (default: ``fingerprint_query``)."""


class SqlSourceTransferOptions(TableTransferOptions):
    source: SqlSourceConfig = Field(default_factory=SqlSourceConfig)


SqlSourceOptionsT = TypeVar(
    "SqlSourceOptionsT", bound=SqlSourceTransferOptions, default=SqlSourceTransferOptions
)


class SqlSourceTransferJob(TableTransferJob[SqlSourceOptionsT]):
    """Rows of ``source_query`` on ``source_connection`` into one SQL table.

    Must declare: `target_table`, `mapping` and `source_query` (or config
    ``source.query``). May declare `fingerprint_query` (or config
    ``source.fingerprint_query``) for change detection.
    """

    source_connection: ClassVar[str] = "source"
    """The ``type: sql`` connection (config ``connections.<name>``) of the source."""
    source_query: ClassVar[str | None] = None
    """The query; ``:start`` and ``:end`` are bound to the window's bounds (bounded
    windows; a truncate run's window is unbounded and binds neither)."""
    fingerprint_query: ClassVar[str | None] = None
    """E.g. ``SELECT max(updated_at), count(*) FROM src``: the sha256 of its rows is
    the source's fingerprint (same parameters as the source query). None: none, the
    transfer never skips."""
    window_as_timestamps: ClassVar[bool] = False
    """Bind ``:start``/``:end`` as midnight UTC timestamps instead of dates."""
    fetch_rows: ClassVar[int] = DEFAULT_FETCH_ROWS
    """Rows fetched from the server-side cursor at a time."""
    options_model: ClassVar[type[BaseModel]] = SqlSourceTransferOptions

    @classmethod
    def config_problems(
        cls, config: FrameworkConfig, options: SqlSourceOptionsT
    ) -> list[tuple[str, str]]:
        """Also the source: its connection exists and is ``type: sql``, a query is set."""
        problems = super().config_problems(config, options)
        path = f"transfers.{cls.transfer_name}.source"
        name = cls.source_connection_name(options)
        problems += config.connection_problems(name, "sql", f"{path}.connection")
        if not (options.source.query or cls.source_query):
            problems.append((f"{path}.query", "no source query (class source_query or config)"))
        return problems

    @classmethod
    def source_connection_name(cls, options: SqlSourceOptionsT) -> str:
        return options.source.connection or cls.source_connection

    @classmethod
    def query_params(cls, window: Window) -> dict[str, Any]:
        """``start``/``end`` of a bounded window, else none."""
        from etl_framework.sources.sql import window_params

        if window.start is None or window.end is None:
            return {}
        return window_params(window, as_timestamps=cls.window_as_timestamps)

    def source(self) -> Iterator[dict[str, Any]]:
        from etl_framework.connectors.sql import SqlConnector
        from etl_framework.sources.sql import query_records

        query = self.options.source.query or self.source_query
        assert query is not None  # config_problems
        connector = self.context.connections.get(
            self.source_connection_name(self.options), SqlConnector
        )
        return query_records(
            connector, query, self.query_params(self.context.window), batch_size=self.fetch_rows
        )

    @classmethod
    def source_fingerprint(
        cls, config: FrameworkConfig, options: SqlSourceOptionsT, window: Window
    ) -> str | None:
        """The sha256 of the fingerprint query's rows; None without one."""
        query = options.source.fingerprint_query or cls.fingerprint_query
        if not query:
            return None
        from etl_framework.connectors.sql import SqlConnector
        from etl_framework.context import Connections
        from etl_framework.sources.fingerprints import query_fingerprint

        connections = Connections(config.connections)
        try:
            connector = connections.get(cls.source_connection_name(options), SqlConnector)
            return query_fingerprint(connector.engine, query, cls.query_params(window))
        finally:
            connections.close_all()
