"""`RunStore`: the run ledger and the (transfer, window) lease.

One running run per (transfer, window): a truncate (unbounded window) holds the
whole transfer; delta windows run side by side only when they do not overlap (and
the transfer allows parallel windows). Taking a lease is one serialized
transaction: ``BEGIN IMMEDIATE`` on SQLite (processes on one machine), a
transaction-scoped advisory lock on PostgreSQL (processes on any machine). A
lease whose heartbeat is older than the TTL is taken over and its run marked
failed.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

from etl_framework import redaction
from etl_framework.exceptions import ConfigError, ETLError, LeaseHeldError, TransientError
from etl_framework.state.models import Lease, Run, Step
from etl_framework.window import ONE_DAY, Window, WriteMode

if TYPE_CHECKING:
    from etl_framework.job import StepRecord

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LEASE_LOCK_KEY = 727275
ERROR_MAX_CHARS = 4000


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes; every time we store is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def state_engine(url: str) -> Engine:
    """An engine for the ledger; SQLite transactions take the write lock at BEGIN.

    Raises:
        ConfigError: the URL is not usable (syntax, missing driver, unwritable directory).
    """
    from sqlalchemy.exc import ArgumentError

    try:
        return _state_engine(url)
    except (ArgumentError, ValueError, ImportError, OSError) as exc:
        detail = redaction.redact(str(exc).strip().splitlines()[0] if str(exc) else "")
        raise ConfigError(
            f"state.url is not usable: {type(exc).__name__}: {detail}".rstrip(": ")
        ) from None


def _state_engine(url: str) -> Engine:
    from sqlalchemy import event
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True, pool_size=2, max_overflow=2)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, poolclass=sa.pool.NullPool)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA busy_timeout=30000")
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@dataclass(frozen=True)
class RunRecord:
    """A row of the ledger, as read back."""

    run_id: str
    transfer: str
    execution_date: dt.date
    mode: str
    window: Window
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    rows_read: int
    rows_written: int
    error: str | None
    exit_code: int | None
    host: str | None
    metrics: dict[str, float]


@dataclass(frozen=True)
class StepRow:
    """A recorded lifecycle step (status and rows are None for pre-0002 rows)."""

    step: str
    seconds: float
    status: str | None
    rows_read: int | None
    rows_written: int | None


class RunStore:
    """The ledger of runs and their leases, in a SQLite file or PostgreSQL."""

    def __init__(
        self, url: str, *, lease_ttl_seconds: float = 120.0, heartbeat_seconds: float = 15.0
    ) -> None:
        self.url = url
        self.engine = state_engine(url)
        self.lease_ttl = dt.timedelta(seconds=lease_ttl_seconds)
        self.heartbeat_seconds = heartbeat_seconds
        self.host = socket.gethostname()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def close(self) -> None:
        self.engine.dispose()

    # --- schema ----------------------------------------------------------------

    def _alembic_config(self, connection: Connection) -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = connection
        return cfg

    def upgrade(self, revision: str = "head") -> None:
        """Create or upgrade the ledger schema to the newest (or the given) migration."""
        from alembic import command

        try:
            with self.engine.connect() as connection:
                command.upgrade(self._alembic_config(connection), revision)
                connection.commit()
        except (OperationalError, ProgrammingError) as exc:
            raise _unreachable(exc) from None

    def schema_is_current(self) -> bool:
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        try:
            with self.engine.connect() as connection:
                current = MigrationContext.configure(
                    connection, opts={"version_table": "etl_alembic_version"}
                ).get_current_heads()
                connection.rollback()
        except (OperationalError, ProgrammingError) as exc:
            raise _unreachable(exc) from None
        with self.engine.connect() as connection:
            heads = ScriptDirectory.from_config(self._alembic_config(connection)).get_heads()
        return set(current) == set(heads)

    def ensure_schema(self, auto_migrate: bool | None) -> None:
        """Migrate (SQLite by default) or check that an admin has (PostgreSQL)."""
        if auto_migrate if auto_migrate is not None else self.is_sqlite:
            self.upgrade()
        elif not self.schema_is_current():
            raise ConfigError(
                "the run ledger schema is missing or outdated: run `etlctl db upgrade CONFIG`"
            )

    # --- runs and leases -------------------------------------------------------------

    def _now(self, conn: Connection) -> dt.datetime:
        """The database server's clock on PostgreSQL, so that leases taken and renewed
        from machines whose clocks disagree are judged by one clock; ours on SQLite
        (one machine)."""
        if self.is_sqlite:
            return utcnow()
        return _aware(conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one())

    @contextmanager
    def _serialized(self) -> Iterator[Connection]:
        """A transaction that no other lease operation runs beside."""
        try:
            with self.engine.begin() as conn:
                if not self.is_sqlite:
                    conn.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LEASE_LOCK_KEY}
                    )
                yield conn
        except (OperationalError, ProgrammingError) as exc:
            raise _unreachable(exc) from None

    def start_run(
        self,
        *,
        run_id: str,
        transfer: str,
        execution_date: dt.date,
        mode: WriteMode,
        window: Window,
        exclusive: bool = False,
        config_checksum: str | None = None,
        code_version: str | None = None,
        image_tag: str | None = None,
    ) -> frozenset[str]:
        """Take the lease and record the run as running; LeaseHeldError if taken.

        Returns the ids of the other runs of the transfer that hold live leases
        (their staging must be left alone by this run's cleansing).
        """
        others: set[str] = set()
        with self._serialized() as conn:
            now = self._now(conn)
            leases = conn.execute(sa.select(Lease).where(Lease.transfer == transfer)).all()
            for lease in leases:
                held = Window(lease.window_start, lease.window_end)
                if now - _aware(lease.heartbeat_at) > self.lease_ttl:
                    self._expire(conn, lease.run_id, run_id, now)
                    continue
                if exclusive or lease.exclusive or held.overlaps(window):
                    raise LeaseHeldError(transfer, str(held), lease.run_id, lease.host)
                others.add(lease.run_id)
            conn.execute(
                sa.insert(Lease).values(
                    run_id=run_id,
                    transfer=transfer,
                    window_start=window.start,
                    window_end=window.end,
                    exclusive=int(exclusive),
                    host=self.host,
                    acquired_at=now,
                    heartbeat_at=now,
                )
            )
            conn.execute(
                sa.insert(Run).values(
                    run_id=run_id,
                    transfer=transfer,
                    execution_date=execution_date,
                    mode=str(mode),
                    window_start=window.start,
                    window_end=window.end,
                    status="running",
                    started_at=now,
                    rows_read=0,
                    rows_written=0,
                    config_checksum=config_checksum,
                    code_version=code_version,
                    image_tag=image_tag,
                    host=self.host,
                    pid=os.getpid(),
                )
            )
        return frozenset(others)

    def _expire(
        self, conn: Connection, stale_run_id: str, new_run_id: str, now: dt.datetime
    ) -> None:
        conn.execute(sa.delete(Lease).where(Lease.run_id == stale_run_id))
        conn.execute(
            sa.update(Run)
            .where(Run.run_id == stale_run_id, Run.status == "running")
            .values(
                status="failed",
                finished_at=now,
                error=f"lease expired (no heartbeat); taken over by run {new_run_id}",
            )
        )

    def heartbeat(self, run_id: str) -> bool:
        """Renew the lease; False if it was lost (taken over by another run)."""
        with self._serialized() as conn:
            result = conn.execute(
                sa.update(Lease).where(Lease.run_id == run_id).values(heartbeat_at=self._now(conn))
            )
            return bool(result.rowcount)

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        rows_read: int,
        rows_written: int,
        error: str | None = None,
        exit_code: int | None = None,
        steps: Mapping[str, StepRecord] | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> bool:
        """Record the outcome and release the lease, in one transaction.

        Returns False, and leaves the run's record alone, when the run is no longer
        running: another run took its lease over and recorded it as failed.
        """
        if error is not None:
            error = redaction.redact(error)[:ERROR_MAX_CHARS]
        with self._serialized() as conn:
            updated = conn.execute(
                sa.update(Run)
                .where(Run.run_id == run_id, Run.status == "running")
                .values(
                    status=status,
                    finished_at=self._now(conn),
                    rows_read=rows_read,
                    rows_written=rows_written,
                    error=error,
                    exit_code=exit_code,
                    metrics=dict(metrics or {}) or None,
                )
            )
            for name, step in (steps or {}).items():
                conn.execute(
                    sa.insert(Step).values(
                        run_id=run_id,
                        step=name,
                        seconds=step.seconds,
                        status="succeeded" if step.succeeded else "failed",
                        rows_read=step.rows_read,
                        rows_written=step.rows_written,
                    )
                )
            conn.execute(sa.delete(Lease).where(Lease.run_id == run_id))
        return bool(updated.rowcount)

    # --- queries ----------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(Run).where(Run.run_id == run_id)).first()
        return _record(row) if row else None

    def steps(self, run_id: str) -> list[StepRow]:
        """The recorded steps of a run, in the order they ran."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(Step).where(Step.run_id == run_id).order_by(Step.id)
            ).all()
        return [StepRow(r.step, r.seconds, r.status, r.rows_read, r.rows_written) for r in rows]

    def runs(self, transfer: str | None = None, limit: int = 50) -> list[RunRecord]:
        query = sa.select(Run).order_by(Run.started_at.desc()).limit(limit)
        if transfer:
            query = query.where(Run.transfer == transfer)
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def covered_until(self, transfer: str) -> dt.date | None:
        """The day after the last day covered by a successful run of ``transfer``."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(Run.mode, Run.window_end, Run.execution_date).where(
                    Run.transfer == transfer, Run.status == "succeeded"
                )
            ).all()
        ends = [row.window_end or row.execution_date + ONE_DAY for row in rows]
        return max(ends) if ends else None


def _record(run: Any) -> RunRecord:
    """A ledger row (a Core row of ``etl_runs`` columns) as a RunRecord."""
    return RunRecord(
        run_id=run.run_id,
        transfer=run.transfer,
        execution_date=run.execution_date,
        mode=run.mode,
        window=Window(run.window_start, run.window_end),
        status=run.status,
        started_at=_aware(run.started_at),
        finished_at=_aware(run.finished_at) if run.finished_at else None,
        rows_read=run.rows_read,
        rows_written=run.rows_written,
        error=run.error,
        exit_code=run.exit_code,
        host=run.host,
        metrics=dict(run.metrics or {}),
    )


def _unreachable(exc: SQLAlchemyError) -> ETLError:
    """The ledger's database failed: our error for it (config or transient)."""
    from etl_framework.connectors.sql import database_error

    # A ProgrammingError (e.g. permission denied) is a refusal: retrying cannot fix it.
    error = database_error(exc, "run ledger", refused=isinstance(exc, ProgrammingError))
    if error is None:  # not reached: both kinds are database errors
        error = TransientError(f"run ledger unreachable: {redaction.redact(str(exc))}")
    return error


class Heartbeat:
    """Renews a lease in the background; calls ``on_lost`` if it was taken over."""

    def __init__(self, store: RunStore, run_id: str, on_lost: Any) -> None:
        self._store = store
        self._run_id = run_id
        self._on_lost = on_lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="etl-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self._store.heartbeat_seconds):
            try:
                alive = self._store.heartbeat(self._run_id)
            except Exception:  # a missed beat is fine; the TTL covers several
                continue
            if not alive and not self._stop.is_set():
                self._on_lost()
                return
