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
           transaction. Readers see the old view or the new one. The warehouse fence
           (`etl_framework.load.sql.fence`) is checked first in that transaction.
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
from etl_framework.window import Window

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from etl_framework.config import FrameworkConfig
    from etl_framework.load.sql.fence import SqlFence

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

    _view_fence: SqlFence | None = None

    def view_fence(self) -> SqlFence:
        """The run's fence on the view: its whole definition is replaced, so the fence
        window is unbounded (a newer claim of any window fences an older run out)."""
        from etl_framework.load.sql.fence import SqlFence

        if self._view_fence is None:
            context = self.context
            self._view_fence = SqlFence(
                self.table,
                Window.unbounded(),
                token=context.fence_token,
                run_id=context.run_id,
                transfer=context.transfer,
                log=context.logger,
            )
        return self._view_fence

    def claim_view(self) -> list[str]:
        return self.view_fence().claim(self.connector.engine, self.context.ledger)

    def view_statements(self, dialect: Any) -> tuple[str | None, list[str]]:
        """What `replace_view` executes after the fence check (`view_statements`); also
        listed by ``pipeline --plan``."""
        from etl_framework.identifiers import quote_table

        return view_statements(dialect, quote_table(dialect, self.table), self._select(dialect))

    def replace_view(self) -> None:
        engine = self.connector.engine
        publish_view(engine, self.view_statements(engine.dialect), self.view_fence())

    def check_select(self) -> None:
        source = self.source_table_name(self.context.config, self.options)
        check_select(
            self.connector.engine, source, self._select(), self.missing_source, self.select_problem
        )

    def source_columns(self, source: str) -> list[tuple[str, str]]:
        import sqlalchemy as sa

        from etl_framework.identifiers import split_table_name

        schema, name = split_table_name(source)
        with self.connector.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                from etl_framework.load.sql.sqlite_decimal import register_reflection

                register_reflection()  # exact decimals reflect as such
            inspector = sa.inspect(conn)
            columns = inspector.get_columns(name, schema=schema)
            primary = set(inspector.get_pk_constraint(name, schema=schema)["constrained_columns"])
        return [
            (
                str(column["name"]),
                column_spec(
                    source, str(column["name"]), column["type"], nullable=column["nullable"]
                )
                + (" primary key" if column["name"] in primary else ""),
            )
            for column in columns
        ]

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


def view_statements(dialect: Any, target: str, select: str) -> tuple[str | None, list[str]]:
    """Replacing view ``target`` (quoted) by ``select``: PostgreSQL's ``CREATE OR REPLACE
    VIEW`` first (None elsewhere), then, if there is none or it failed (the columns
    changed), drop + create, all in one transaction."""
    replace = (
        f"CREATE OR REPLACE VIEW {target} AS {select}" if dialect.name == "postgresql" else None
    )
    return replace, [f"DROP VIEW IF EXISTS {target}", f"CREATE VIEW {target} AS {select}"]


def publish_view(engine: Engine, statements: tuple[str | None, list[str]], fence: SqlFence) -> None:
    """Replace a view in one transaction whose first statements check ``fence``
    (`FencedOutError`, nothing changed, if a newer run claimed the view); ``statements``
    are `view_statements`."""
    replace, recreate = statements
    with engine.begin() as conn:
        fence.publish(conn)  # first: a run that lost its lease replaces nothing
        if replace is not None:
            try:
                with conn.begin_nested():
                    _execute(conn, replace)
                return
            except engine.dialect.loaded_dbapi.Error:  # columns changed: OR REPLACE
                pass  # cannot drop or rename them; drop + create below, same transaction
        for statement in recreate:
            _execute(conn, statement)


def check_select(
    engine: Engine,
    source: str,
    select: str,
    missing: Any,
    problem: Any,
) -> None:
    """Raise ``missing(source)`` if table ``source`` does not exist, ``problem(source,
    detail)`` if ``select`` does not run on it (no rows are read: ``WHERE 1 = 0``)."""
    import sqlalchemy as sa

    from etl_framework.identifiers import split_table_name

    schema, name = split_table_name(source)
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(name, schema=schema):
            raise missing(source)
        try:
            _execute(conn, f"SELECT * FROM ({select}) AS etl_select_check WHERE 1 = 0")
        except engine.dialect.loaded_dbapi.Error as exc:
            detail = _author_error(exc)
            if detail is None:
                raise
            raise problem(source, detail) from None


def _author_error(exc: BaseException) -> str | None:
    """The first line of an error the SELECT's text causes (an unknown table, column or
    function, a syntax error), None for anything else (connection, permissions...)."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if state is not None:  # PostgreSQL class 42: syntax error or undefined object
        return message if str(state).startswith("42") and str(state) != "42501" else None
    lowered = message.lower()
    if lowered.startswith("no such ") or "syntax error" in lowered or "ambiguous" in lowered:
        return message  # SQLite
    return None


def column_spec(source: str, column: str, sql_type: Any, *, nullable: bool = True) -> str:
    """A reflected SQLAlchemy column type as a `FieldMapping` column spec."""
    import sqlalchemy as sa

    suffix = "" if nullable else " not null"
    checks: list[tuple[type, str | None]] = [
        (sa.Boolean, "boolean"),
        (sa.BigInteger, "bigint"),
        (sa.SmallInteger, "smallint"),
        (sa.Integer, "integer"),
        (sa.Float, "double precision"),
        (sa.Numeric, None),
        (sa.DateTime, None),
        (sa.Date, "date"),
        (sa.JSON, "json"),
        (sa.Text, "text"),
        (sa.String, None),
    ]
    for kind, spec in checks:
        if not isinstance(sql_type, kind):
            continue
        if spec is not None:
            return spec + suffix
        if isinstance(sql_type, sa.Numeric):
            precision, scale = sql_type.precision, sql_type.scale
            if precision is None:
                return "numeric" + suffix
            return f"numeric({precision},{scale or 0}){suffix}"
        if isinstance(sql_type, sa.DateTime):
            return ("timestamptz" if sql_type.timezone else "timestamp") + suffix
        length = getattr(sql_type, "length", None)
        return (f"varchar({length})" if length else "text") + suffix
    postgres_json = type(sql_type).__name__.upper() in ("JSONB", "JSON")
    if postgres_json:
        return "json" + suffix
    raise _unsupported(source, column, sql_type)


def _unsupported(source: str, column: str, sql_type: Any) -> Exception:
    from etl_framework.exceptions import ConfigError

    return ConfigError(
        f"column {column!r} of {source} has type {sql_type}, which a table transform over "
        "ALL_COLUMNS cannot copy; declare typed fields"
    )


def _execute(conn: Any, sql: str) -> None:
    """Run author SQL as is: through the DB-API cursor without parameters, so neither
    SQLAlchemy (``:name``) nor the driver (``%``) reads placeholders into it."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


__all__ = ["SqlTransformJob", "SqlTransformOptions"]
