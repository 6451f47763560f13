"""Replace window (delta mode): the target's rows in ``[start, end)`` become the staged rows.

Publish, in ONE transaction::

    DELETE FROM target WHERE window_column >= :start AND window_column < :end;
    INSERT INTO target (cols) SELECT cols FROM staging;

Rows outside the window are never touched, so non-overlapping windows may be
published side by side. Every staged row must fall inside the window (guard
``window``): a row outside it would survive the next run of its own window and be
duplicated. The bounds are bound parameters of the window column's type: dates for
a ``date`` column, midnight UTC for ``timestamptz``, naive midnight for
``timestamp``. An unbounded side is left out of the condition, so the unbounded
window of a truncate run replaces the whole table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

from etl_framework.exceptions import ConfigError, GuardError
from etl_framework.identifiers import quote, quote_table
from etl_framework.load.sql.base import PublishResult, WriteStrategy
from etl_framework.window import WINDOW_KINDS, window_bound

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Dialect

    from etl_framework.load.sql.base import Statement
    from etl_framework.window import Window


class ReplaceWindowStrategy(WriteStrategy):
    """Delta: delete the window's rows and insert the staged ones, atomically."""

    name = "replace_window"
    supports_direct: ClassVar[bool] = True
    deletes_rows: ClassVar[bool] = True

    def __init__(self, *args: Any, window: Window, window_column: str, **kwargs: Any) -> None:
        kwargs.setdefault("fence_window", window)  # the fence row covers what is replaced
        super().__init__(*args, **kwargs)
        self.window = window
        self.window_column = window_column
        column_type = self.mapping.field(window_column).type
        if column_type.kind not in WINDOW_KINDS:
            raise ConfigError(
                f"window column {window_column!r} is {column_type}; it must be date, timestamp "
                "or timestamptz"
            )
        self.window_type = column_type
        self._bind_type = column_type.to_sqlalchemy()

    @property
    def replaced_scope(self) -> str:
        return f"window {self.window} of {self.target}"

    def _condition(self, dialect: Dialect, inside: bool) -> tuple[str, dict[str, Any]]:
        column = quote(dialect, self.window_column)
        parts: list[str] = []
        params: dict[str, Any] = {}
        if self.window.start is not None:
            parts.append(f"{column} >= :start" if inside else f"{column} < :start")
            params["start"] = window_bound(self.window.start, self.window_type.kind)
        if self.window.end is not None:
            parts.append(f"{column} < :end" if inside else f"{column} >= :end")
            params["end"] = window_bound(self.window.end, self.window_type.kind)
        if inside:
            return (" AND ".join(parts) or "1 = 1"), params
        parts.append(f"{column} IS NULL")
        return " OR ".join(parts), params

    def _text(self, sql: str, params: dict[str, Any]) -> sa.TextClause:
        sa_type = self.window_type.to_sqlalchemy()
        return sa.text(sql).bindparams(
            *(sa.bindparam(k, v, type_=sa_type) for k, v in params.items())
        )

    def _replaced_rows_statement(self, dialect: Dialect) -> Statement | None:
        where, params = self._condition(dialect, inside=True)
        sql = f"SELECT COUNT(*) FROM {quote_table(dialect, self.target)} WHERE {where}"
        return self._text(sql, params)

    def _pre_guard_statements(self, dialect: Dialect) -> list[Statement]:
        where, params = self._condition(dialect, inside=False)
        sql = f"SELECT COUNT(*) FROM {quote_table(dialect, self.staging)} WHERE {where}"
        return [self._text(sql, params)]

    def check_guards(self, conn: Connection) -> None:
        (outside_rows,) = self._pre_guard_statements(conn.dialect)
        outside = int(conn.execute(outside_rows).scalar_one())  # type: ignore[arg-type]
        if outside:
            raise GuardError(
                "window",
                f"{outside} staged rows have {self.window_column} outside the window "
                f"{self.window} (or NULL)",
            )
        super().check_guards(conn)

    def _clear_statement(self, dialect: Dialect) -> Statement:
        where, params = self._condition(dialect, inside=True)
        return self._text(f"DELETE FROM {quote_table(dialect, self.target)} WHERE {where}", params)

    def _publish_statements(self, dialect: Dialect) -> list[Statement]:
        return [self._clear_statement(dialect), self._insert_select(dialect)]

    def _publish(self, conn: Connection) -> PublishResult:
        deleted = self._clear(conn)
        inserted = conn.exec_driver_sql(self._insert_select(conn.dialect)).rowcount
        return PublishResult(inserted=inserted, deleted=deleted)

    def _new_rows_condition(self, dialect: Dialect) -> tuple[str, dict[str, Any]]:
        return self._condition(dialect, inside=True)

    def _checked_rows(self, rows: Iterable[Sequence[Any]]) -> Iterator[Sequence[Any]]:
        """Direct publish: refuse the first row outside the window (rolls back)."""
        index = self.mapping.columns.index(self.window_column)
        start = (
            window_bound(self.window.start, self.window_type.kind) if self.window.start else None
        )
        end = window_bound(self.window.end, self.window_type.kind) if self.window.end else None
        for row in rows:
            value = row[index]
            if (
                value is None
                or (start is not None and value < start)
                or (end is not None and value >= end)
            ):
                raise GuardError(
                    "window",
                    f"a row has {self.window_column}={value} outside the window {self.window}",
                )
            yield row
