"""A lease bound to its holder's life: something the OS or the database frees when
the holding process dies, so that a new run can take a dead run's lease over at once
instead of waiting out the lease TTL.

- SQLite ledger (processes on one machine): an ``flock`` on ``<ledger>.locks/<run_id>``,
  held by the run's process; the kernel drops it when the process dies.
- PostgreSQL ledger (processes on any machine): a session advisory lock keyed by the
  run id, held on a dedicated ledger connection for the whole run. TCP keepalives and
  ``tcp_user_timeout``, on the client and as the server session's settings, make the
  server close the session of a vanished pod, and free the lock, within seconds.

A holder takes its own lock *before* its lease row is written and frees it only after
its lease row is deleted: a lease whose lock can be taken has a dead holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

# Client-side libpq keepalives (psycopg and psycopg2 accept them as connect arguments)
# and the same on the server's side of the session: a peer that vanished without a
# FIN (a deleted pod, a cut network) is noticed within about 10 seconds.
_KEEPALIVE_CONNECT_ARGS = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}
_LIBPQ_DRIVERS = frozenset({"psycopg", "psycopg2", "psycopg2cffi"})
_KEEPALIVE_SERVER_SETTINGS = (
    "SET tcp_keepalives_idle = 5",
    "SET tcp_keepalives_interval = 2",
    "SET tcp_keepalives_count = 3",
    "SET tcp_user_timeout = 10000",
)

_HOLD_WITH_SETTINGS = "SELECT {}, pg_advisory_lock(:k)".format(
    ", ".join(
        "set_config('{}', '{}', false)".format(*setting.removeprefix("SET ").split(" = "))
        for setting in _KEEPALIVE_SERVER_SETTINGS
    )
)
"""`_KEEPALIVE_SERVER_SETTINGS` and the run's session lock, in one statement (atomic:
if a setting is unknown, nothing is set and no lock is taken)."""


def lock_key(run_id: str) -> int:
    """The advisory lock key (a signed 64-bit integer) of a run."""
    digest = hashlib.sha256(f"etl-lease:{run_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Liveness:
    """No liveness (e.g. an in-memory SQLite ledger): only the TTL frees a lease."""

    def hold(self, run_id: str) -> None:
        """Take this process's lock for ``run_id`` (before its lease row exists)."""

    def release(self, run_id: str) -> None:
        """Free the lock of ``run_id`` (after its lease row is gone)."""

    def refresh(self, run_id: str) -> None:
        """Called with each heartbeat: take the lock again if it was lost while the
        process lives (its ledger connection broke)."""

    def is_dead(self, conn: Connection, run_id: str) -> bool:
        """Whether the holder of ``run_id``'s lease is gone (its lock is free).

        ``conn`` is the serialized lease transaction's connection."""
        return False

    def close(self) -> None:
        """Free every lock this process still holds."""


class FileLocks(Liveness):
    """``flock`` on one file per run beside a SQLite ledger."""

    def __init__(self, directory: Path, *, tidy: bool = True) -> None:
        self.directory = directory
        self.tidy = tidy
        """Remove a dead holder's file once seen (False: look only, e.g. ``--plan``)."""
        self._held: dict[str, int] = {}

    def _path(self, run_id: str) -> Path:
        return self.directory / run_id

    def hold(self, run_id: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path(run_id), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise
        self._held[run_id] = fd

    def release(self, run_id: str) -> None:
        fd = self._held.pop(run_id, None)
        if fd is not None:
            with contextlib.suppress(FileNotFoundError):
                self._path(run_id).unlink()
            os.close(fd)  # closing the last descriptor frees the lock

    def is_dead(self, conn: Connection, run_id: str) -> bool:
        if run_id in self._held:
            return False
        try:
            fd = os.open(self._path(run_id), os.O_RDWR)
        except FileNotFoundError:
            # Holders create their file before their lease row: it was cleaned up.
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live process holds it
        finally:
            os.close(fd)
        if self.tidy:
            with contextlib.suppress(FileNotFoundError):
                self._path(run_id).unlink()
        return True

    def close(self) -> None:
        for run_id in list(self._held):
            self.release(run_id)


class AdvisoryLocks(Liveness):
    """A PostgreSQL session advisory lock per run, on a dedicated connection."""

    def __init__(self, url: sa.URL) -> None:
        from etl_framework.db import dialect_options

        libpq = url.get_driver_name() in _LIBPQ_DRIVERS
        self._engine: Engine = sa.create_engine(
            url,
            poolclass=sa.pool.NullPool,
            connect_args=dict(_KEEPALIVE_CONNECT_ARGS) if libpq else {},
            **dialect_options(url),
        )
        self._held: dict[str, Connection] = {}

    def hold(self, run_id: str) -> None:
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            try:  # the settings and the lock in one round trip
                conn.execute(sa.text(_HOLD_WITH_SETTINGS), {"k": lock_key(run_id)})
            except DBAPIError:  # an older server does not know a setting: one by one
                for statement in _KEEPALIVE_SERVER_SETTINGS:
                    # Best effort (autocommit: a failed SET spoils nothing).
                    with contextlib.suppress(DBAPIError):
                        conn.exec_driver_sql(statement)
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": lock_key(run_id)})
        except BaseException:
            conn.close()
            raise
        self._held[run_id] = conn

    def refresh(self, run_id: str) -> None:
        conn = self._held.get(run_id)
        if conn is None:
            return
        try:
            conn.exec_driver_sql("SELECT 1")
        except Exception:
            # The session (and its lock) is gone: a new run may have taken the lease
            # over meanwhile; the next heartbeat tells. Hold the lock again.
            with contextlib.suppress(Exception):
                conn.close()
            del self._held[run_id]
            self.hold(run_id)

    def release(self, run_id: str) -> None:
        conn = self._held.pop(run_id, None)
        if conn is not None:
            with contextlib.suppress(Exception):  # closing the session frees it anyway
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(run_id)})
            with contextlib.suppress(Exception):
                conn.close()

    def is_dead(self, conn: Connection, run_id: str) -> bool:
        if run_id in self._held:
            return False
        # A transaction-level probe: freed when the lease transaction ends.
        got: Any = conn.execute(
            sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": lock_key(run_id)}
        ).scalar_one()
        return bool(got)

    def close(self) -> None:
        for run_id in list(self._held):
            self.release(run_id)
        self._engine.dispose()


def liveness_for(url: sa.URL, *, readonly: bool = False) -> Liveness:
    """The liveness locks of a ledger at ``url`` (``readonly``: to look only, never
    removing a dead holder's lock file)."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            return Liveness()
        return FileLocks(Path(url.database + ".locks"), tidy=not readonly)
    if backend == "postgresql":
        return AdvisoryLocks(url)
    return Liveness()
