"""``etlctl backfill``: rebuild a range of days, one window at a time, resumably.

plan.windows(...)        the days of [START, END] (with --only-missing: those
                         without a succeeded run in the ledger, read read-only)
plan.Journal             one JSON line per finished window, fsynced: a rerun of an
                         interrupted backfill skips what it records as done
run.Backfill             each window is an ordinary ``pipeline`` subprocess (same
                         lease, ledger row and exit codes), one or N at a time;
                         progress as a rich bar on a terminal, JSON lines otherwise
"""

from __future__ import annotations

from etl_framework.backfill.plan import Journal, contiguous_ranges, missing_days, windows
from etl_framework.backfill.run import Backfill, WindowResult

__all__ = [
    "Backfill",
    "Journal",
    "WindowResult",
    "contiguous_ranges",
    "missing_days",
    "windows",
]
