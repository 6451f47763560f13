"""The SQL backend (PostgreSQL, SQLite): write strategies, staging, guards, fence.

=====================  ====================================================
`ReplaceTableStrategy`   truncate mode: staging replaces the whole target
`ReplaceWindowStrategy`  delta mode: staging replaces ``[start, end)``
`MergeStrategy`          upsert on key columns (INSERT ... ON CONFLICT)
`AppendStrategy`         insert only; not idempotent on its own
=====================  ====================================================

All share `WriteStrategy` (`base.py`), which implements the backend-neutral contract of
`etl_framework.load.contract`; guards read their settings from the one
`etl_framework.load.guards.GuardConfig`. One module per concern: ``staging.py`` (names,
locks, owned drops), ``schema.py`` (target tables, columns), ``bulk.py`` (COPY /
executemany), ``guards.py`` (guard queries), ``fence.py`` (the warehouse fence),
``target_check.py`` (read-only pre-run checks), ``sqlite_decimal.py``. See docs/loading.md.
Names are imported lazily: importing one strategy module does not pull in every strategy.
"""

from __future__ import annotations

from etl_framework._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "AppendStrategy": ".append",
        "MergeStrategy": ".merge",
        "PublishResult": ".base",
        "ReplaceTableStrategy": ".replace_table",
        "ReplaceWindowStrategy": ".replace_window",
        "SqlFence": ".fence",
        "WriteStrategy": ".base",
        "bulk_insert": ".bulk",
        "staging_name": ".staging",
    },
)
