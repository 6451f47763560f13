"""Replace table (truncate mode): the whole target becomes the staged rows.

Publish, in ONE transaction::

    DELETE FROM target;                       -- or TRUNCATE target (method="truncate")
    INSERT INTO target (cols) SELECT cols FROM staging;

A missing or empty target (first load) is loaded directly: one transaction creates
the target if missing, streams the rows into it and commits, since there is nothing
to replace and nothing to lock; the guards run on the new rows before the commit,
exactly as on staging. The direct path never TRUNCATEs (whatever ``method`` says):
its transaction lasts the whole load, and readers must not wait that long.

The target table itself is kept, so its dependent views, grants, indexes and
comments survive (a rename-swap would break all of them). Foreign keys of other
tables that reference the target are refused before any data moves unless they are
DEFERRABLE with ON DELETE NO ACTION (then checked at the commit, against the new
rows): the DELETE would otherwise fail, or cascade into the referencing rows.

``method="delete"`` (default): MVCC readers keep seeing the old rows until the
commit and then the new ones; they are never blocked and never see an empty table.
The price is dead tuples (the table is about twice its size until autovacuum).

``method="truncate"`` (PostgreSQL): TRUNCATE inside the transaction takes an ACCESS
EXCLUSIVE lock, so readers *wait* for the commit (then see the new rows) instead of
reading the old rows; the table stays compact and the publish is faster. Readers
still never see an empty or partial table. On SQLite both are a DELETE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from etl_framework.exceptions import ConfigError, SchemaMismatchError
from etl_framework.identifiers import quote_table
from etl_framework.load.sql.base import PublishResult, WriteStrategy
from etl_framework.load.sql.guards import count_rows_sql

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Dialect

    from etl_framework.load.sql.base import Statement
    from etl_framework.load.sql.schema import SchemaCheck

ReplaceMethod = Literal["delete", "truncate"]


class ReplaceTableStrategy(WriteStrategy):
    """Full refresh: staging replaces every row of the target, atomically."""

    name = "replace_table"
    full_refresh: ClassVar[bool] = True
    supports_direct: ClassVar[bool] = True
    direct_when_empty: ClassVar[bool] = True
    deletes_rows: ClassVar[bool] = True

    def __init__(self, *args: Any, method: ReplaceMethod = "delete", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if method not in ("delete", "truncate"):
            raise ConfigError(f"invalid replace method {method!r}: expected delete or truncate")
        if method == "truncate" and self.direct:
            raise ConfigError(
                "replace method truncate cannot publish directly: readers would wait for the "
                "whole load (use staging, or method delete)"
            )
        self.method: ReplaceMethod = method

    def _check_referencing_keys(self, conn: Connection, check: SchemaCheck) -> None:
        super()._check_referencing_keys(conn, check)
        if self._defer_foreign_keys and self.method == "truncate":
            raise SchemaMismatchError(
                self.target,
                "foreign keys of other tables reference it, and TRUNCATE refuses such a "
                "table even when they are deferred: use replace_method delete",
            )

    def _replaced_rows_statement(self, dialect: Dialect) -> Statement | None:
        return count_rows_sql(dialect, self.target)

    def _clear_statement(self, dialect: Dialect) -> Statement:
        # Direct publish: never TRUNCATE, its ACCESS EXCLUSIVE lock would last the load.
        return f"DELETE FROM {quote_table(dialect, self.target)}"

    def _truncates(self, dialect: Dialect) -> bool:
        return self.method == "truncate" and dialect.name == "postgresql"

    def _publish_statements(self, dialect: Dialect) -> list[Statement]:
        if self._truncates(dialect):
            first: Statement = f"TRUNCATE TABLE {quote_table(dialect, self.target)}"
        else:
            first = self._clear_statement(dialect)
        return [first, self._insert_select(dialect)]

    def _publish(self, conn: Connection) -> PublishResult:
        if self._truncates(conn.dialect):
            conn.exec_driver_sql(f"TRUNCATE TABLE {quote_table(conn.dialect, self.target)}")
            deleted = -1
        else:
            deleted = self._clear(conn)
        inserted = conn.exec_driver_sql(self._insert_select(conn.dialect)).rowcount
        return PublishResult(inserted=inserted, deleted=deleted)
