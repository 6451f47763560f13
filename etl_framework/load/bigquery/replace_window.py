"""`BigQueryReplaceWindowStrategy` (delta): DELETE the window + INSERT, one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from etl_framework.exceptions import ConfigError, GuardError
from etl_framework.load.bigquery.base import BigQueryPublishResult, BigQueryWriteStrategy
from etl_framework.window import WINDOW_KINDS


class BigQueryReplaceWindowStrategy(BigQueryWriteStrategy):
    """Delta: DELETE the window + INSERT from staging, in one transaction."""

    name = "replace_window"

    def __init__(self, *args: Any, window_column: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.window_column = window_column
        self.window_kind = self.mapping.field(window_column).type.kind
        if self.window_kind not in WINDOW_KINDS:
            raise ConfigError(
                f"window column {window_column!r} is {self.window_kind}; it must be date, "
                "timestamp or timestamptz"
            )

    def window_params(self) -> dict[str, Any]:
        from etl_framework.window import window_bound

        params: dict[str, Any] = {}
        if self.window.start is not None:
            params["window_start"] = window_bound(self.window.start, self.window_kind)
        if self.window.end is not None:
            params["window_end"] = window_bound(self.window.end, self.window_kind)
        return params

    def window_condition(self, alias: str = "") -> str:
        column = f"{alias}.`{self.window_column}`" if alias else f"`{self.window_column}`"
        parts = []
        if self.window.start is not None:
            parts.append(f"{column} >= @window_start")
        if self.window.end is not None:
            parts.append(f"{column} < @window_end")
        return " AND ".join(parts) or "TRUE"

    def publish_statement(self) -> str:
        cols = self._columns_sql()
        return self._transaction(
            [
                f"DELETE FROM {self.target.sql} WHERE {self.window_condition()};",
                f"INSERT INTO {self.target.sql} ({cols})\nSELECT {cols} FROM {self.staging.sql};",
            ]
        )

    @property
    def replaced_scope(self) -> str:
        return f"window {self.window} of {self.target}"

    def rows_in_window_sql(self) -> str:
        return f"SELECT COUNT(*) AS n FROM {self.target.sql} WHERE {self.window_condition()}"

    def rows_in_window(self) -> int:
        """The target's rows in the window (the ``min_fraction`` base): one count query
        on the window column (pruned to the window's partitions)."""
        return self._count(self.rows_in_window_sql(), "min_fraction guard", self.window_params())

    def window_check_sql(self) -> str:
        condition = self.window_condition()
        return (
            f"SELECT COUNTIF(NOT ({condition}) OR `{self.window_column}` IS NULL) AS outside "
            f"FROM {self.staging.sql}"
        )

    def _planned_queries(self) -> list[tuple[str, Mapping[str, Any], str]]:
        params = self.window_params()
        out = self._stage_steps()
        if self.guard_limits.min_fraction:
            out.append((self.rows_in_window_sql(), params, "guard min_fraction: rows replaced"))
        out.append((self.window_check_sql(), params, "guard window"))
        return out

    def _publish_params(self) -> Mapping[str, Any]:
        return self.window_params()

    def check_window(self) -> None:
        outside = self._count(self.window_check_sql(), "window guard", self.window_params())
        if outside:
            raise GuardError(
                "window",
                f"{outside} staged rows have {self.window_column} outside the window "
                f"{self.window} (or NULL); nothing was published",
            )

    def publish(self) -> BigQueryPublishResult:
        staged = self._stage()
        current = self.rows_in_window() if self.guard_limits.min_fraction else None
        self._check_guards(staged, current)
        self.check_window()
        statement = self.publish_statement()
        job = self._execute_publish(statement, "publish transaction", self.window_params())
        self.log.info(
            "replaced window %s of %s with %d rows (one transaction)",
            self.window,
            self.target,
            staged,
        )
        return BigQueryPublishResult(inserted=staged, statement=statement, job_id=job.job_id)


__all__ = ["BigQueryReplaceWindowStrategy"]
