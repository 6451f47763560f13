"""The backend-neutral half of the warehouse fence: window keys and reconciliation.

The ledger hands every lease a fencing token that only grows (``RunContext.fence_token``);
each backend keeps a fence table next to its targets and checks it inside the publish
transaction: `etl_framework.load.sql.fence` (PostgreSQL, SQLite) and
`etl_framework.load.bigquery.fence` (BigQuery). Both key their rows by `window_key` and
tell the ledger about publishers it missed through `reconcile_publishers`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from etl_framework.window import Window, format_date

if TYPE_CHECKING:
    from etl_framework.state.handle import LedgerHandle


def window_key(window: Window) -> str:
    """The window as part of the fence row's key: ``all``, ``YYYYMMDD_YYYYMMDD``,
    ``YYYYMMDD_`` or ``_YYYYMMDD`` (an open side left empty)."""
    if window.is_unbounded:
        return "all"
    start = format_date(window.start) if window.start else ""
    end = format_date(window.end) if window.end else ""
    return f"{start}_{end}"


def reconcile_publishers(
    run_ids: list[str],
    ledger: LedgerHandle,
    target: object,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
) -> list[str]:
    """Tell the ledger that each of ``run_ids`` published ``target`` (the fence says so);
    return those it had not recorded as succeeded (SQL and BigQuery fences alike)."""
    reconciled: list[str] = []
    for run_id in run_ids:
        if ledger.reconcile_published(run_id):
            reconciled.append(run_id)
            log.warning(
                "run %s published %s but its ledger record did not say so: recorded it "
                "as succeeded",
                run_id,
                target,
            )
    return reconciled


__all__ = ["reconcile_publishers", "window_key"]
