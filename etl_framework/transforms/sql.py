"""`SqlTransformJob`: a transform over a table in PostgreSQL or SQLite.

::

    @register("completed_orders")
    class CompletedOrders(SqlTransformJob):
        upstream = "demo_orders"               # reads its target table, runs after it
        target_table = "completed_orders"
        fields = [("order_id", "order_id"), ("amount", "amount")]
        where_clause = "status = 'completed' AND order_date >= {{ month_start(ds) }}"

=========  ===========================================================================
view       PostgreSQL: ``CREATE OR REPLACE VIEW`` (drop + create in the same
           transaction when the columns changed); SQLite: drop + create in one
           transaction. Readers see the old view or the new one.
table      the SELECT's rows published by `TableTransferJob`'s write strategies
           (truncate replaces the table, delta replaces the window's rows): guards,
           staging, fencing and the ledger apply unchanged.
=========  ===========================================================================
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel
from typing_extensions import TypeVar

from etl_framework.transfers.table import TableTransferJob, TableTransferOptions
from etl_framework.transforms.base import Transform, TransformSettings

if TYPE_CHECKING:
    from etl_framework.config import FrameworkConfig

_FETCH_ROWS = 1000


class SqlTransformOptions(TableTransferOptions, TransformSettings):
    """``transfers.<name>`` options of a `SqlTransformJob`."""


SqlTransformOptionsT = TypeVar(
    "SqlTransformOptionsT", bound=SqlTransformOptions, default=SqlTransformOptions
)


class SqlTransformJob(Transform, TableTransferJob[SqlTransformOptionsT]):
    """A view or table derived from an upstream transfer's table (same connection).

    Must declare: `upstream` (or `source_table`), `target_table`, `fields`,
    `where_clause`; may declare `materialized` (default ``view``).
    """

    options_model: ClassVar[type[BaseModel]] = SqlTransformOptions

    @classmethod
    def target_dialect(cls, config: FrameworkConfig, options: Any) -> str:
        import sqlalchemy as sa

        from etl_framework.connectors.sql import SqlConfig

        connection, _table, _path = cls.configured_target(config, options)
        if not isinstance(connection, SqlConfig):
            return "postgresql"
        backend = sa.engine.make_url(connection.url.get_secret_value()).get_backend_name()
        return "sqlite" if backend == "sqlite" else "postgresql"

    def _select(self, dialect: Any = None) -> str:
        from etl_framework.identifiers import quote_table

        dialect = dialect or self.connector.engine.dialect
        source = quote_table(dialect, self.source_table_name(self.context.config, self.options))
        name = "sqlite" if dialect.name == "sqlite" else "postgresql"
        return self.render_select(name, dialect.identifier_preparer.quote, source)

    def view_statements(self, dialect: Any) -> tuple[str | None, list[str]]:
        """What `replace_view` executes in one transaction: PostgreSQL's ``CREATE OR
        REPLACE VIEW`` first (None elsewhere), then, if there is none or it failed (the
        columns changed), drop + create. Also listed by ``pipeline --plan``."""
        from etl_framework.identifiers import quote_table

        target = quote_table(dialect, self.table)
        select = self._select(dialect)
        replace = (
            f"CREATE OR REPLACE VIEW {target} AS {select}" if dialect.name == "postgresql" else None
        )
        return replace, [f"DROP VIEW IF EXISTS {target}", f"CREATE VIEW {target} AS {select}"]

    def replace_view(self) -> None:
        engine = self.connector.engine
        replace, recreate = self.view_statements(engine.dialect)
        with engine.begin() as conn:
            if replace is not None:
                try:
                    with conn.begin_nested():
                        _execute(conn, replace)
                    return
                except engine.dialect.loaded_dbapi.Error:  # columns changed: OR REPLACE
                    pass  # cannot drop or rename them; drop + create below, same transaction
            for statement in recreate:
                _execute(conn, statement)

    def source(self) -> Iterator[dict[str, Any]]:
        """The SELECT's rows (a ``table`` transform), keyed by alias."""
        select = self._select()
        with self.connector.engine.connect() as conn:
            cursor = conn.connection.cursor()
            try:
                cursor.execute(select)
                names = [column[0] for column in cursor.description]
                while rows := cursor.fetchmany(_FETCH_ROWS):
                    for row in rows:
                        yield dict(zip(names, row, strict=True))
            finally:
                cursor.close()


def _execute(conn: Any, sql: str) -> None:
    """Run author SQL as is: through the DB-API cursor without parameters, so neither
    SQLAlchemy (``:name``) nor the driver (``%``) reads placeholders into it."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


__all__ = ["SqlTransformJob", "SqlTransformOptions"]
