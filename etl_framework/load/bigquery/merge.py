"""`BigQueryMergeStrategy`: one MERGE from staging on the key columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from etl_framework.exceptions import ConfigError, GuardError
from etl_framework.load import guards as _guards
from etl_framework.load.bigquery.base import BigQueryPublishResult, BigQueryWriteStrategy


class BigQueryMergeStrategy(BigQueryWriteStrategy):
    """Upsert: one MERGE from staging on the key columns.

    BigQuery enforces no primary key or unique constraint (a declared one is ``NOT
    ENFORCED``), so unlike on SQL the target's constraints cannot vouch for the keys;
    the guards check the staged keys instead, before the MERGE runs. What the MERGE
    itself would do otherwise: a staged row with a NULL key matches nothing (``NULL =
    NULL`` is not true), so it is inserted again on every run (guard ``null_keys``,
    always); two staged rows with the same key are both inserted when the key is new,
    and fail the statement ("UPDATE/MERGE must match at most one source row for each
    target row") when it exists (guard ``unique_keys``). A key the target already holds
    twice has both rows updated.
    """

    name = "merge"

    def __init__(self, *args: Any, key_columns: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_columns = tuple(key_columns) or self.mapping.primary_key
        if not self.key_columns:
            raise ConfigError(
                f"merge into {self.target} needs key columns (or primary key columns in the "
                "mapping)"
            )
        for column in self.key_columns:
            self.mapping.field(column)

    def publish_statement(self) -> str:
        on = " AND ".join(f"T.`{k}` = S.`{k}`" for k in self.key_columns)
        others = [c for c in self.mapping.columns if c not in self.key_columns]
        cols = self._columns_sql()
        sql = f"MERGE {self.target.sql} T\nUSING {self.staging.sql} S\nON {on}\n"
        if others:
            sets = ", ".join(f"`{c}` = S.`{c}`" for c in others)
            sql += f"WHEN MATCHED THEN UPDATE SET {sets}\n"
        sql += f"WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({self._columns_sql('S')})"
        if self.fence.enabled:  # the fence check and the MERGE commit together
            return self._transaction([sql + ";"])
        return sql

    def check_null_keys(self, staged: int) -> None:
        """Refuse staged rows with a NULL key: ``NULL = NULL`` never matches in the MERGE,
        so every rerun would insert them again."""
        null_keys = self._count(self.null_keys_sql(), "null keys guard")
        if null_keys:
            raise GuardError(
                "null_keys", _guards.null_keys_message(null_keys, staged, self.key_columns)
            )

    def null_keys_sql(self) -> str:
        condition = " OR ".join(f"`{k}` IS NULL" for k in self.key_columns)
        return f"SELECT COUNTIF({condition}) AS null_keys FROM {self.staging.sql}"

    def unique_keys_sql(self) -> str:
        keys = ", ".join(f"`{k}`" for k in self.key_columns)
        return (
            f"SELECT COUNT(*) AS duplicated FROM (SELECT {keys} FROM {self.staging.sql} "
            f"GROUP BY {keys} HAVING COUNT(*) > 1)"
        )

    def _planned_queries(self) -> list[tuple[str, Mapping[str, Any], str]]:
        out = self._stage_steps()
        out.append((self.null_keys_sql(), {}, "guard null_keys"))
        if self.guards.unique_keys:
            out.append((self.unique_keys_sql(), {}, "guard unique_keys"))
        return out

    def check_unique_keys(self) -> None:
        duplicated = self._count(self.unique_keys_sql(), "unique keys guard")
        if duplicated:
            raise GuardError(
                "unique_keys",
                f"{duplicated} key values of ({', '.join(self.key_columns)}) occur more than "
                "once in staging; MERGE needs one source row per key",
            )

    def publish(self) -> BigQueryPublishResult:
        staged = self._stage()
        self._check_guards(staged)
        self.check_null_keys(staged)
        if self.guards.unique_keys:
            self.check_unique_keys()
        statement = self.publish_statement()
        job = self._execute_publish(statement, "publish merge")
        self.log.info("merged %d rows into %s", staged, self.target)
        return BigQueryPublishResult(inserted=staged, statement=statement, job_id=job.job_id)


__all__ = ["BigQueryMergeStrategy"]
