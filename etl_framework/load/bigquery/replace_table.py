"""`BigQueryReplaceTableStrategy` (truncate): DELETE every row + INSERT, one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from etl_framework.load.bigquery.base import BigQueryPublishResult, BigQueryWriteStrategy


class BigQueryReplaceTableStrategy(BigQueryWriteStrategy):
    """Truncate: load into staging, then DELETE every row + INSERT, in one transaction.

    The target table is kept as it is (schema descriptions, policy tags, partitioning,
    clustering, grants); only its rows change. The transaction is what the warehouse
    fence checks inside, so a run that lost its lease cannot replace the table.
    """

    name = "replace_table"
    full_refresh = True

    def publish_statement(self) -> str:
        cols = self._columns_sql()
        return self._transaction(
            [
                f"DELETE FROM {self.target.sql} WHERE TRUE;",
                f"INSERT INTO {self.target.sql} ({cols})\nSELECT {cols} FROM {self.staging.sql};",
            ]
        )

    def count_sql(self) -> str:
        return f"SELECT COUNT(*) AS n FROM {self.target.sql}"

    def _planned_queries(self) -> list[tuple[str, Mapping[str, Any], str]]:
        return [(self.count_sql(), {}, "guard min_fraction: rows replaced"), *self._stage_steps()]

    def publish(self) -> BigQueryPublishResult:
        # The rows replaced. COUNT(*) of a whole table is answered from metadata and
        # bills 0 bytes; the table resource's numRows is not used: an emulator (and a
        # table with a streaming buffer) can report a stale number after DML.
        current = self._count(self.count_sql(), "min_fraction guard")
        if not self._loads_uris:
            # Rows (or nothing at all): refuse before any load job runs.
            self._check_guards(self._writer.rows if self._writer is not None else 0, current)
        staged = self._stage()
        self._check_guards(staged, current)
        statement = self.publish_statement()
        job = self._execute_publish(statement, "publish transaction")
        self.log.info("replaced %s with %d rows (one transaction)", self.target, staged)
        return BigQueryPublishResult(inserted=staged, statement=statement, job_id=job.job_id)


__all__ = ["BigQueryReplaceTableStrategy"]
