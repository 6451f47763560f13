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

import importlib
from typing import Any

_EXPORTS = {
    "AppendStrategy": "etl_framework.load.sql.append",
    "MergeStrategy": "etl_framework.load.sql.merge",
    "PublishResult": "etl_framework.load.sql.base",
    "ReplaceTableStrategy": "etl_framework.load.sql.replace_table",
    "ReplaceWindowStrategy": "etl_framework.load.sql.replace_window",
    "SqlFence": "etl_framework.load.sql.fence",
    "WriteStrategy": "etl_framework.load.sql.base",
    "bulk_insert": "etl_framework.load.sql.bulk",
    "staging_name": "etl_framework.load.sql.staging",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
