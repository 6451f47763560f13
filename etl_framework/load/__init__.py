"""Loading: load into staging, guard, publish atomically, per backend.

The backend-neutral contract is here (`contract.py`: strategy kinds, lifecycle, the
(backend, kind) registry; `guards.py`: `GuardConfig` and its defaults; `fence.py`:
window keys and reconciliation); each backend implements it in one package:
`etl_framework.load.sql` (PostgreSQL, SQLite) and `etl_framework.load.bigquery`.
The SQL strategies are re-exported here:

=====================  ====================================================
`ReplaceTableStrategy`   truncate mode: staging replaces the whole target
`ReplaceWindowStrategy`  delta mode: staging replaces ``[start, end)``
`MergeStrategy`          upsert on key columns (INSERT ... ON CONFLICT)
`AppendStrategy`         insert only; not idempotent on its own
=====================  ====================================================

All share `WriteStrategy` (etl_framework.load.sql.base). See docs/loading.md.
Names are imported lazily: importing one strategy module does not pull in every
strategy. Identifier quoting lives in `etl_framework.identifiers`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AppendStrategy": "etl_framework.load.sql.append",
    "GuardConfig": "etl_framework.load.guards",
    "MergeStrategy": "etl_framework.load.sql.merge",
    "PublishResult": "etl_framework.load.sql.base",
    "ReplaceTableStrategy": "etl_framework.load.sql.replace_table",
    "ReplaceWindowStrategy": "etl_framework.load.sql.replace_window",
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
