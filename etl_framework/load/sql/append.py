"""Append: insert the staged rows, delete nothing.

NOT idempotent on its own: running the same load twice inserts the rows twice. Use
it only when asked for explicitly, for targets where the source hands out each row
once (an event log with a cursor kept elsewhere), or add key columns so a primary
key turns a repeated row into a clear error instead of a duplicate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from etl_framework.load.sql.base import PublishResult, WriteStrategy

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Dialect

    from etl_framework.load.sql.base import Statement


class AppendStrategy(WriteStrategy):
    """Insert staged rows into the target in one transaction."""

    name = "append"

    def _publish_statements(self, dialect: Dialect) -> list[Statement]:
        return [self._insert_select(dialect)]

    def _publish(self, conn: Connection) -> PublishResult:
        inserted = conn.exec_driver_sql(self._insert_select(conn.dialect)).rowcount
        return PublishResult(inserted=inserted)
