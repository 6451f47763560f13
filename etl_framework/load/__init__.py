"""Loading: load into staging, guard, publish atomically, per backend.

The backend-neutral contract is here (`contract.py`: strategy kinds, lifecycle, the
(backend, kind) registry; `guards.py`: `GuardConfig` and its defaults; `fence.py`:
window keys and reconciliation); each backend implements it in one package:
`etl_framework.load.sql` (PostgreSQL, SQLite) and `etl_framework.load.bigquery`.
The SQL strategies (import them from `etl_framework.load.sql`):

=====================  ====================================================
`ReplaceTableStrategy`   truncate mode: staging replaces the whole target
`ReplaceWindowStrategy`  delta mode: staging replaces ``[start, end)``
`MergeStrategy`          upsert on key columns (INSERT ... ON CONFLICT)
`AppendStrategy`         insert only; not idempotent on its own
=====================  ====================================================

All share `WriteStrategy` (etl_framework.load.sql.base). See docs/loading.md.
Identifier quoting lives in `etl_framework.identifiers`.
"""
