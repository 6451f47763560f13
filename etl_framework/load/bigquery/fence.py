"""The warehouse fence on BigQuery: the counterpart of `etl_framework.load.sql.fence`.

A table ``_etl_fence`` in the target's dataset holds one row per (target, window) with
the fencing token and run that last claimed it and the run that published it. The
claim is a short multi-statement transaction of its own; the check is the first
statement of the publish transaction, so a run whose token is older than an
overlapping claim aborts the whole transaction (``SELECT ERROR(...)``), and nothing
is published::

    BEGIN TRANSACTION;
    SELECT ERROR(...) FROM (newer overlapping claims of the target);  -- aborts: rollback
    UPDATE / INSERT _etl_fence ... published_at = CURRENT_TIMESTAMP(); -- this run published
    DELETE ... / INSERT ... / MERGE ...                                -- the data change
    COMMIT TRANSACTION;

BigQuery has no locks to wait on: two transactions that change the same tables run
under snapshot isolation and the later commit fails on the concurrent update. Every
claim and every publish writes ``_etl_fence``, so a claim that lands while an older
publish is open makes one of the two fail: two publishes of one target never
interleave either. (The local emulator does not accept MERGE inside a transaction, so
there a fenced merge publish fails; real BigQuery runs it.) Token 0 (no ledger): no fence.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from etl_framework.exceptions import FencedOutError
from etl_framework.load.fence import reconcile_publishers, window_key

if TYPE_CHECKING:
    from etl_framework.connectors.bigquery import BigQueryConnector, TableRef
    from etl_framework.state.handle import LedgerHandle
    from etl_framework.window import Window

logger = logging.getLogger(__name__)

FENCE_TABLE = "_etl_fence"
_MARKER = "etl_fence: fenced out by run "
_FENCED = re.compile(re.escape(_MARKER) + r"(?P<run>\S+) \(token (?P<token>\d+)\)")
_COLUMNS = (
    "target STRING NOT NULL, window_key STRING NOT NULL, window_start DATE, window_end DATE, "
    "token INT64 NOT NULL, run_id STRING NOT NULL, transfer STRING, claimed_at TIMESTAMP, "
    "published_at TIMESTAMP, reconciled_at TIMESTAMP"
)


class BigQueryFence:
    """The fence of one run on one BigQuery target."""

    def __init__(
        self,
        connector: BigQueryConnector,
        target: TableRef,
        window: Window,
        *,
        token: int,
        run_id: str,
        transfer: str = "",
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        self.connector = connector
        self.target = target
        self.table = target.sibling(FENCE_TABLE)
        self.window = window
        self.token = token
        self.run_id = run_id
        self.transfer = transfer
        self.log = log or logger
        self._ready = False

    @property
    def enabled(self) -> bool:
        return self.token > 0

    # --- the two steps -------------------------------------------------------------

    def claim(self, ledger: LedgerHandle) -> list[str]:
        """Claim this run's window of the target; return the runs the ledger now
        records as succeeded because the fence shows they published. Raises
        `FencedOutError` when an overlapping window carries a larger token."""
        if not self.enabled:
            return []
        self.ensure()
        checked = [
            str(row["run_id"])
            for row in self.connector.query(
                f"SELECT DISTINCT run_id FROM {self.table.sql} WHERE target = @target "
                "AND published_at IS NOT NULL AND reconciled_at IS NULL AND run_id != @run_id",
                {"target": self.target.table, "run_id": self.run_id},
                action="fence reconciliation",
            )
        ]
        reconciled = reconcile_publishers(checked, ledger, self.target, self.log)
        statements = ["BEGIN TRANSACTION;", self.check_statement()]
        if checked:
            statements.append(
                f"UPDATE {self.table.sql} SET reconciled_at = CURRENT_TIMESTAMP() "
                "WHERE target = @fence_target AND run_id IN UNNEST(@checked);"
            )
        statements += [self.mark_statement(published=False), "COMMIT TRANSACTION;"]
        params = self.params()
        if checked:
            params["checked"] = checked
        self.run("\n".join(statements), params, action="fence claim")
        self.log.info(
            "claimed %s (window %s) with fencing token %d", self.target, self.window, self.token
        )
        return reconciled

    def ensure(self) -> None:
        """Create the fence table of the dataset if it is missing (once per run)."""
        if self._ready:
            return
        self.connector.ensure_dataset(self.table.project, self.table.dataset)  # first run
        self.connector.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table.sql} ({_COLUMNS})", action="fence table"
        )
        self._ready = True

    def publish_statements(self) -> list[str]:
        """The first statements of the publish transaction ([] with token 0)."""
        if not self.enabled:
            return []
        return [self.check_statement(), self.mark_statement(published=True)]

    def params(self) -> dict[str, Any]:
        """Query parameters of the fence statements (prefixed ``fence_``)."""
        from etl_framework.connectors.bigquery import _bigquery

        bigquery = _bigquery()
        return {
            "fence_target": self.target.table,
            "fence_window_key": window_key(self.window),
            "fence_window_start": bigquery.ScalarQueryParameter(
                "fence_window_start", "DATE", self.window.start
            ),
            "fence_window_end": bigquery.ScalarQueryParameter(
                "fence_window_end", "DATE", self.window.end
            ),
            "fence_token": self.token,
            "fence_run_id": self.run_id,
            "fence_transfer": self.transfer,
        }

    def run(self, statement: str, params: dict[str, Any], *, action: str, **kwargs: Any) -> Any:
        """Execute a script containing the fence check; a fenced-out abort becomes
        `FencedOutError` (the transaction rolled back: nothing changed)."""
        from etl_framework.connectors.bigquery import BigQueryJobError

        try:
            return self.connector.execute(statement, params, action=action, **kwargs)
        except BigQueryJobError as exc:
            fenced = _FENCED.search(str(exc))
            if fenced is None:
                raise
            raise FencedOutError(
                str(self.target),
                fenced["run"],
                detail=f"fencing token {fenced['token']} is newer than this run's {self.token}",
            ) from None

    # --- statements ----------------------------------------------------------------

    def overlapping(self) -> str:
        parts = ["target = @fence_target"]
        if self.window.end is not None:
            parts.append("(window_start IS NULL OR window_start < @fence_window_end)")
        if self.window.start is not None:
            parts.append("(window_end IS NULL OR window_end > @fence_window_start)")
        return " AND ".join(parts)

    def check_statement(self) -> str:
        """Aborts the script when an overlapping window carries a larger token."""
        return (
            f"SELECT ERROR(CONCAT('{_MARKER}', run_id, ' (token ', CAST(token AS STRING), ')')) "
            f"FROM (SELECT run_id, token FROM {self.table.sql} "
            f"WHERE {self.overlapping()} AND token > @fence_token "
            "ORDER BY token DESC LIMIT 1);"
        )

    def mark_statement(self, *, published: bool) -> str:
        """Upsert this run's row (an UPDATE, then an INSERT if there was none: MERGE is
        not accepted inside a transaction by every BigQuery implementation)."""
        published_at = "CURRENT_TIMESTAMP()" if published else "CAST(NULL AS TIMESTAMP)"
        claimed = "" if published else "claimed_at = CURRENT_TIMESTAMP(), "
        key = "target = @fence_target AND window_key = @fence_window_key"
        return (
            f"UPDATE {self.table.sql} SET token = @fence_token, run_id = @fence_run_id, "
            f"transfer = @fence_transfer, {claimed}published_at = {published_at}, "
            f"reconciled_at = CAST(NULL AS TIMESTAMP) WHERE {key};\n"
            f"INSERT INTO {self.table.sql} (target, window_key, window_start, window_end, "
            "token, run_id, transfer, claimed_at, published_at) SELECT @fence_target, "
            "@fence_window_key, @fence_window_start, @fence_window_end, @fence_token, "
            f"@fence_run_id, @fence_transfer, CURRENT_TIMESTAMP(), {published_at} "
            f"FROM (SELECT 1) WHERE NOT EXISTS (SELECT 1 FROM {self.table.sql} WHERE {key});"
        )


__all__ = ["FENCE_TABLE", "BigQueryFence"]
