"""Merge (upsert) on key columns: ``INSERT ... ON CONFLICT (keys) DO UPDATE``.

Publish, in ONE transaction::

    INSERT INTO target (cols) SELECT cols FROM staging WHERE true
    ON CONFLICT (keys) DO UPDATE SET c = excluded.c, ...   -- DO NOTHING if only keys

The same statement works on PostgreSQL and SQLite (>= 3.24; ``WHERE true`` resolves
SQLite's parsing ambiguity of INSERT ... SELECT ... ON CONFLICT). The target must
have a primary key or unique constraint on exactly the key columns (a target created
from the mapping gets one; a partial or expression index does not count), else the
run is refused before any data moves. Staged keys must be unique (guard
``unique_keys``), since one statement cannot update the same row twice, and free of
NULLs (guard ``null_keys``): NULL never equals NULL, so ``ON CONFLICT`` would never
match such a row on a nullable UNIQUE key and every rerun would insert it again.
Rows absent from staging are kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from etl_framework.exceptions import ConfigError, SchemaMismatchError
from etl_framework.identifiers import quote
from etl_framework.load.sql.base import PublishResult, WriteStrategy
from etl_framework.load.sql.guards import check_unique_keys

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Dialect

    from etl_framework.load.sql.base import Statement
    from etl_framework.load.sql.schema import SchemaCheck


class MergeStrategy(WriteStrategy):
    """Upsert staged rows on the key columns."""

    name = "merge"
    required_capabilities: ClassVar[frozenset[str]] = frozenset({"transactions", "merge"})
    merges_on_keys: ClassVar[bool] = True

    def _check_target(self, conn: Connection, check: SchemaCheck) -> None:
        if not self.key_columns:
            raise ConfigError(
                f"merge into {self.target} needs key columns (key_columns, or primary key "
                "columns in the mapping)"
            )
        # a target created from the mapping gets a primary key on the key columns
        if not check.created and not self._has_unique_key(conn, check):
            keys = ", ".join(self.key_columns)
            raise SchemaMismatchError(
                self.target,
                f"merge needs a primary key or unique constraint on exactly the key columns "
                f"({keys}), and the target has none: without it a merge cannot tell which "
                f"row a key matches (add one, e.g. ALTER TABLE ... ADD UNIQUE ({keys}), or "
                "set key_columns to the columns of an existing one)",
            )

    def _updates(self) -> list[str]:
        return [c for c in self.mapping.columns if c not in self.key_columns]

    def _publish_refuses_duplicates(self, dialect: Dialect) -> bool:
        # PostgreSQL's ON CONFLICT DO UPDATE refuses to update a row twice in one
        # statement (cardinality_violation): a duplicate staged key fails the publish,
        # which `_publish` reports as the unique_keys guard. SQLite would let the last
        # row win, and DO NOTHING would keep the first: there the guard's query runs.
        return dialect.name == "postgresql" and bool(self._updates())

    def _merge_sql(self, dialect: Dialect) -> str:
        keys = ", ".join(quote(dialect, k) for k in self.key_columns)
        updates = self._updates()
        if updates:
            assignments = ", ".join(
                f"{quote(dialect, c)} = excluded.{quote(dialect, c)}" for c in updates
            )
            action = f"DO UPDATE SET {assignments}"
        else:
            action = "DO NOTHING"
        return self._insert_select(dialect, f" WHERE true ON CONFLICT ({keys}) {action}")

    def _publish_statements(self, dialect: Dialect) -> list[Statement]:
        return [self._merge_sql(dialect)]

    def _publish(self, conn: Connection) -> PublishResult:
        sql = self._merge_sql(conn.dialect)
        if not (self.guards.unique_keys and self._publish_refuses_duplicates(conn.dialect)):
            return PublishResult(inserted=conn.exec_driver_sql(sql).rowcount)
        from sqlalchemy.exc import DBAPIError

        savepoint = conn.begin_nested()
        try:
            affected = conn.exec_driver_sql(sql).rowcount
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != _CARDINALITY_VIOLATION:
                raise
            savepoint.rollback()
            # the guard's own query names the duplicates, as on every other backend
            check_unique_keys(conn, self.staging, self.key_columns)
            raise
        savepoint.commit()
        return PublishResult(inserted=affected)


_CARDINALITY_VIOLATION = "21000"
"""ON CONFLICT DO UPDATE command cannot affect row a second time."""
