"""Staging tables: named after the target and the run, owned through the ledger.

A run loads into ``_stg_<table>_<run8>`` (``<run8>``: 8 characters of the run id)
next to the target. Before creating it, the run records the name in the ledger
(``LedgerHandle.record_staging``) and then creates it with a plain ``CREATE TABLE``:
an existing table of that name is an error, never dropped. It is dropped by
``post_execution_cleanup``; if the process dies first, the next run of the same
target drops it in ``pre_execution_cleansing``, because the ledger lists it among the
staging of runs that are gone (``LedgerHandle.stale_staging``). Nothing is ever
dropped because its name matches the staging pattern: a user table named
``_stg_orders_abcd1234`` is safe.

On PostgreSQL a live run also holds a session advisory lock on its staging name for
as long as the staging table exists, so a clean-up never drops the staging of a run
that is still loading, whatever the ledger says.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from etl_framework.identifiers import quote_table, split_table_name
from etl_framework.load.contract import RUN_TAG_LENGTH, run_tag

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Dialect, Engine

STAGING_PREFIX = "_stg_"
MAX_IDENTIFIER_LENGTH = 63
_MAX_TABLE_PART = MAX_IDENTIFIER_LENGTH - len(STAGING_PREFIX) - 1 - RUN_TAG_LENGTH


def _table_part(table: str) -> str:
    if len(table) <= _MAX_TABLE_PART:
        return table
    digest = hashlib.sha1(table.encode()).hexdigest()[:8]
    return table[: _MAX_TABLE_PART - 8] + digest


def staging_name(target: str, run_id: str) -> str:
    """``[schema.]_stg_<table>_<run8>`` for the target ``[schema.]table``."""
    schema, table = split_table_name(target)
    name = f"{STAGING_PREFIX}{_table_part(table)}_{run_tag(run_id)}"
    return f"{schema}.{name}" if schema else name


def staging_pattern(target: str) -> re.Pattern[str]:
    """Matches the (unqualified) staging names of every run of ``target``."""
    _schema, table = split_table_name(target)
    return re.compile(
        re.escape(STAGING_PREFIX + _table_part(table)) + rf"_[a-z0-9]{{{RUN_TAG_LENGTH}}}"
    )


def lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for a staging table name."""
    return int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "big", signed=True)


def list_staging(conn: Connection, target: str) -> list[str]:
    """Qualified names of the existing tables named like staging of ``target``.

    For looking only (tests, diagnostics): cleanup never drops by name pattern, since a
    user table may match it (see `drop_owned_staging`).
    """
    schema, _table = split_table_name(target)
    pattern = staging_pattern(target)
    names = sa.inspect(conn).get_table_names(schema=schema)
    return sorted(f"{schema}.{n}" if schema else n for n in names if pattern.fullmatch(n))


def drop_table_sql(dialect: Dialect, name: str) -> str:
    return f"DROP TABLE IF EXISTS {quote_table(dialect, name)}"


def drop_table(conn: Connection, name: str) -> None:
    conn.exec_driver_sql(drop_table_sql(conn.dialect, name))


class StagingLock:
    """Marks a staging table as in use by a live run (PostgreSQL advisory lock).

    Holds one pooled connection for the life of the run; a no-op on other dialects.
    """

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self._conn: Connection | None = None

    def acquire(self) -> None:
        if self.engine.dialect.name != "postgresql" or self._conn is not None:
            return
        conn = self.engine.connect()
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": lock_key(self.name)})
        conn.commit()  # session-level lock: survives the end of this transaction
        self._conn = conn

    def release(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(self.name)})
            conn.commit()
        except Exception:
            conn.invalidate()  # never return a session still holding the lock to the pool
            raise
        finally:
            conn.close()


def drop_owned_staging(engine: Engine, names: Iterable[str]) -> list[str]:
    """Drop the staging tables ``names`` (recorded in the ledger as created by runs
    that are gone); return those dropped or already missing.

    Only names the ledger recorded reach this function: a table that merely matches
    the staging pattern is never dropped. On PostgreSQL a table whose advisory lock is
    held belongs to a live run and is skipped.
    """
    dropped: list[str] = []
    for name in names:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                key = {"k": lock_key(name)}
                taken = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), key).scalar()
                conn.commit()
                if not taken:
                    continue  # its run is still alive
                try:
                    with conn.begin():
                        drop_table(conn, name)
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), key)
                    conn.commit()
            else:
                with conn.begin():
                    drop_table(conn, name)
        dropped.append(name)
    return dropped
