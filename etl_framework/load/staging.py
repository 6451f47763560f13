"""Staging tables: named after the target and the run, found again after a crash.

A run loads into ``_stg_<table>_<run8>`` (``<run8>``: 8 characters of the run id)
next to the target. It is dropped by ``post_execution_cleanup``; if the process dies
first, the next run of the same target finds it by name and drops it in
``pre_execution_cleansing``.

On PostgreSQL a live run holds a session advisory lock on its staging name for as
long as the staging table exists, so the clean-up of one run never drops the staging
of another run that is still loading (delta windows may run side by side): a
staging table is stale when its lock can be taken. On other dialects every other
run's staging of the target is considered stale (SQLite has a single writer anyway).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from etl_framework.load.identifiers import quote_table, split_table_name

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

STAGING_PREFIX = "_stg_"
RUN_TAG_LENGTH = 8
MAX_IDENTIFIER_LENGTH = 63
_MAX_TABLE_PART = MAX_IDENTIFIER_LENGTH - len(STAGING_PREFIX) - 1 - RUN_TAG_LENGTH


def run_tag(run_id: str) -> str:
    """8 lowercase alphanumerics identifying the run (a hash when the id has too few)."""
    tag = re.sub(r"[^a-z0-9]", "", run_id.lower())[:RUN_TAG_LENGTH]
    if len(tag) < RUN_TAG_LENGTH:
        tag = hashlib.sha1(run_id.encode()).hexdigest()[:RUN_TAG_LENGTH]
    return tag


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
    """Qualified names of every existing staging table of ``target`` (any run)."""
    schema, _table = split_table_name(target)
    pattern = staging_pattern(target)
    names = sa.inspect(conn).get_table_names(schema=schema)
    return sorted(f"{schema}.{n}" if schema else n for n in names if pattern.fullmatch(n))


def drop_table(conn: Connection, name: str) -> None:
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote_table(conn.dialect, name)}")


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


def drop_stale_staging(
    engine: Engine,
    target: str,
    *,
    keep: str | None = None,
    is_live: Callable[[str], bool] | None = None,
) -> list[str]:
    """Drop staging tables of ``target`` left by runs that are no longer alive.

    ``keep`` (this run's staging) is never dropped, nor a table whose run tag
    ``is_live`` says belongs to a live run (the ledger's view, e.g.
    `RunContext.is_active_run`), nor, on PostgreSQL, one whose advisory lock is held.
    Returns the names dropped.
    """
    with engine.connect() as conn:
        candidates = [n for n in list_staging(conn, target) if n != keep]
    if is_live is not None:
        candidates = [n for n in candidates if not is_live(n[-RUN_TAG_LENGTH:])]
    dropped: list[str] = []
    for name in candidates:
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
