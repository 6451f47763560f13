"""`RunStore`: the run ledger and the (transfer, window) lease.

One running run per (transfer, window): a truncate (unbounded window) holds the
whole transfer; delta windows run side by side only when they do not overlap (and
the transfer allows parallel windows). One writer per target table: a lease records
the canonical keys of the tables its run writes, and a run of another transfer that
writes one of them is refused. Taking a lease is one serialized transaction:
``BEGIN IMMEDIATE`` on SQLite (processes on one machine), a transaction-scoped
advisory lock on PostgreSQL (processes on any machine).

Every lease gets a fencing token that only grows (the warehouse fence compares them).
A lease is bound to its holder's life (`etl_framework.state.liveness`): a lease whose
holder died is taken over at once and its run marked failed ("process died"); a lease
whose holder lives but stopped heartbeating for longer than the TTL (hung) is taken
over too ("lease expired").
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
import tenacity
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

from etl_framework import redaction
from etl_framework.db import ledger_engine
from etl_framework.exceptions import ConfigError, ETLError, LeaseHeldError, TransientError
from etl_framework.state.liveness import Liveness, liveness_for
from etl_framework.state.models import FenceCounter, Lease, Run, Staging, Step
from etl_framework.window import ONE_DAY, Window, WriteMode


class StepStats(Protocol):
    """What the ledger records of one lifecycle step (`etl_framework.job.StepRecord`;
    the ledger does not import the job)."""

    @property
    def seconds(self) -> float: ...
    @property
    def rows_read(self) -> int: ...
    @property
    def rows_written(self) -> int: ...
    @property
    def succeeded(self) -> bool: ...
    @property
    def counters(self) -> Mapping[str, float]:
        """What the step added to the run's other counters; the ``bq_*`` ones
        (`STEP_COST_COLUMNS`) are recorded."""


STEP_COST_COLUMNS = (
    "bq_jobs",
    "bq_load_jobs",
    "bq_bytes_processed",
    "bq_bytes_billed",
    "bq_slot_ms",
)
"""Columns of ``etl_run_steps`` filled from the step's counters of the same name
(`etl_framework.connectors.bigquery_cost.COUNTERS`); NULL when the step has none."""
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LEASE_LOCK_KEY = 727275
_LOCKED_AT = "etl_lease_locked_at"
"""Key of `Connection.info`: the server clock read when `_serialized` took the lock."""
ERROR_MAX_CHARS = 4000
FINISH_RETRY_SECONDS = 20.0
"""How long finish_run retries a transient ledger failure before giving up."""
PROCESS_DIED = "process died"
LEASE_EXPIRED = "lease expired (no heartbeat)"
_log = logging.getLogger("etl_framework.state")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes; every time we store is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _redacted(text: str | None) -> str | None:
    return None if text is None else redaction.redact(text)


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
    skip_reason: str | None = None
    orchestrator_run_id: str | None = None


@dataclass(frozen=True)
class LeaseGrant:
    """What start_run hands the run: its fencing token and the other live runs."""

    fence_token: int
    active_run_ids: frozenset[str]


class TargetLeasedError(LeaseHeldError):
    """A run of another transfer holds a lease on a target table this run writes."""

    def __init__(self, target: str, holder_transfer: str, holder_run_id: str, host: str) -> None:
        self.transfer = holder_transfer
        self.window = ""
        self.target = target
        self.holder_run_id = holder_run_id
        self.holder_host = host
        ETLError.__init__(
            self,
            f"target {target} is being written by run {holder_run_id} of transfer "
            f"{holder_transfer!r} on {host}; try again when it ends",
        )


@dataclass(frozen=True)
class StepRow:
    """A recorded lifecycle step (status and rows are None for pre-0002 rows)."""

    step: str
    seconds: float
    status: str | None
    rows_read: int | None
    rows_written: int | None
    bq_jobs: int | None = None
    """BigQuery jobs the step ran (None: none, or a pre-0005 row)."""
    bq_load_jobs: int | None = None
    bq_bytes_processed: int | None = None
    """None: no job of the step reported it (unknown, not 0)."""
    bq_bytes_billed: int | None = None
    bq_slot_ms: int | None = None


class RunStore:
    """The ledger of runs and their leases, in a SQLite file or PostgreSQL."""

    def __init__(
        self, url: str, *, lease_ttl_seconds: float = 120.0, heartbeat_seconds: float = 15.0
    ) -> None:
        self.url = url
        self.engine = ledger_engine(url)
        self.lease_ttl = dt.timedelta(seconds=lease_ttl_seconds)
        self.heartbeat_seconds = heartbeat_seconds
        self.host = socket.gethostname()
        self.finish_retry_seconds = FINISH_RETRY_SECONDS
        self.liveness: Liveness = liveness_for(self.engine.url)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def close(self) -> None:
        """Free the liveness locks this process holds and the ledger's connections."""
        self.liveness.close()
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
        self.migrate("upgrade", revision)

    def migrate(self, direction: str, revision: str) -> None:
        """alembic ``upgrade`` or ``downgrade`` to ``revision``, in ONE transaction.

        On SQLite the ledger's transactions start with BEGIN IMMEDIATE, so a second
        process migrating at the same time waits here, then reads the revision this one
        committed and has nothing left to do; on PostgreSQL env.py also takes an
        advisory lock. Left to itself, alembic gives each SQLite migration a transaction
        of its own and reads the revision before them: two first runs on a new ledger
        both applied the same migration and one failed ("duplicate column name").
        """
        from alembic import command

        try:
            with self.engine.connect() as connection, connection.begin():
                getattr(command, direction)(self._alembic_config(connection), revision)
        except (OperationalError, ProgrammingError) as exc:
            raise _unreachable(exc) from None

    def schema_is_current(self) -> bool:
        """Whether the ledger is at the migrations' head (one SELECT, no alembic)."""
        from etl_framework.state.revisions import VERSION_TABLE, head_revisions

        try:
            with self.engine.connect() as connection:
                try:  # one round trip when the table is there (every run but the first)
                    rows = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}"))
                    current = {row[0] for row in rows}
                except (OperationalError, ProgrammingError):
                    connection.rollback()
                    if not sa.inspect(connection).has_table(VERSION_TABLE):
                        return False
                    raise
                connection.rollback()
        except (OperationalError, ProgrammingError) as exc:
            raise _unreachable(exc) from None
        return current == head_revisions()

    def ensure_schema(self, auto_migrate: bool | None) -> None:
        """Migrate (SQLite by default) or check that an admin has (PostgreSQL)."""
        if auto_migrate if auto_migrate is not None else self.is_sqlite:
            if not self.schema_is_current():  # alembic only when there is work for it
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
        taken: dt.datetime | None = conn.info.get(_LOCKED_AT)
        if taken is not None and not self.is_sqlite:
            return taken  # read with the lease lock (`_serialized`): no round trip
        return ledger_now(conn)

    @contextmanager
    def _serialized(self) -> Iterator[Connection]:
        """A transaction that no other lease operation runs beside."""
        try:
            with self.engine.begin() as conn:
                if not self.is_sqlite:
                    # the lock, then the server's clock, in one round trip: the volatile
                    # subquery is not flattened, its lock is taken before the clock is read
                    now = conn.execute(
                        sa.text(
                            "SELECT clock_timestamp() FROM "
                            "(SELECT pg_advisory_xact_lock(:k)) AS lease_lock"
                        ),
                        {"k": _LEASE_LOCK_KEY},
                    ).scalar_one()
                    conn.info[_LOCKED_AT] = _aware(now)
                try:
                    yield conn
                finally:
                    conn.info.pop(_LOCKED_AT, None)
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
        targets: frozenset[str] = frozenset(),
        config_checksum: str | None = None,
        code_version: str | None = None,
        image_tag: str | None = None,
        fingerprint: str | None = None,
        orchestrator_run_id: str | None = None,
    ) -> LeaseGrant:
        """Take the lease and record the run as running; LeaseHeldError if taken.

        A conflicting lease is taken over when its holder died or its heartbeat is
        older than the TTL (that run is recorded failed); a live one refuses this run:
        a lease of the same transfer on an overlapping window, or a lease of another
        transfer writing one of ``targets`` (canonical target-table keys).

        Returns the run's fencing token and the ids of the other runs of the transfer
        that hold live leases (their staging must be left alone by this run's cleansing).
        """
        try:
            self.liveness.hold(run_id)  # before the lease row exists: see liveness.py
        except SQLAlchemyError as exc:
            raise _unreachable(exc) from None
        try:
            refusal, grant = self._take_lease(
                run_id=run_id,
                transfer=transfer,
                execution_date=execution_date,
                mode=mode,
                window=window,
                exclusive=exclusive,
                targets=targets,
                config_checksum=config_checksum,
                code_version=code_version,
                image_tag=image_tag,
                fingerprint=fingerprint,
                orchestrator_run_id=orchestrator_run_id,
            )
        except BaseException:
            self.liveness.release(run_id)
            raise
        if refusal is not None:  # committed: the dead leases it met are taken over
            self.liveness.release(run_id)
            raise refusal
        return grant

    def _take_lease(
        self,
        *,
        run_id: str,
        transfer: str,
        execution_date: dt.date,
        mode: WriteMode,
        window: Window,
        exclusive: bool,
        targets: frozenset[str],
        config_checksum: str | None,
        code_version: str | None,
        image_tag: str | None,
        fingerprint: str | None,
        orchestrator_run_id: str | None = None,
    ) -> tuple[LeaseHeldError | None, LeaseGrant]:
        others: set[str] = set()
        with self._serialized() as conn:
            now = self._now(conn)
            for lease in conn.execute(sa.select(Lease)).all():
                held = Window(lease.window_start, lease.window_end)
                shared = sorted(set(lease.targets or ()) & targets)
                if lease.transfer != transfer and not shared:
                    continue
                gone = self._gone(conn, lease, now)
                if gone:
                    self._expire(conn, lease.run_id, run_id, now, gone)
                    continue
                if lease.transfer != transfer:
                    return TargetLeasedError(
                        shared[0], lease.transfer, lease.run_id, lease.host
                    ), LeaseGrant(0, frozenset())
                if exclusive or lease.exclusive or held.overlaps(window):
                    return LeaseHeldError(
                        transfer, str(held), lease.run_id, lease.host
                    ), LeaseGrant(0, frozenset())
                others.add(lease.run_id)
            token = self._next_token(conn, now)
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
                    fence_token=token,
                    targets=sorted(targets) or None,
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
                    code_version=_redacted(code_version),
                    image_tag=_redacted(image_tag),
                    host=self.host,
                    pid=os.getpid(),
                    fence_token=token,
                    fingerprint=fingerprint,
                    orchestrator_run_id=_redacted(orchestrator_run_id),
                )
            )
        return None, LeaseGrant(token, frozenset(others))

    def _gone(self, conn: Connection, lease: Any, now: dt.datetime) -> str | None:
        """Why ``lease`` may be taken over (its holder died, or hangs past the TTL)."""
        return lease_gone(self.liveness, conn, lease, now, self.lease_ttl)

    @staticmethod
    def _next_token(conn: Connection, now: dt.datetime) -> int:
        """The next fencing token: above every token issued, at least the clock in
        epoch microseconds (tokens of different ledgers still roughly follow time)."""
        last = conn.execute(
            sa.select(FenceCounter.last_token).where(FenceCounter.id == 1)
        ).scalar_one_or_none()
        token = max((last or 0) + 1, int(now.timestamp() * 1_000_000))
        if last is None:
            conn.execute(sa.insert(FenceCounter).values(id=1, last_token=token))
        else:
            conn.execute(
                sa.update(FenceCounter).where(FenceCounter.id == 1).values(last_token=token)
            )
        return token

    def _expire(
        self, conn: Connection, stale_run_id: str, new_run_id: str, now: dt.datetime, why: str
    ) -> None:
        conn.execute(sa.delete(Lease).where(Lease.run_id == stale_run_id))
        conn.execute(
            sa.update(Run)
            .where(Run.run_id == stale_run_id, Run.status == "running")
            .values(
                status="failed",
                finished_at=now,
                error=f"{why}; taken over by run {new_run_id}",
                taken_over_by=new_run_id,
            )
        )

    def heartbeat(self, run_id: str) -> bool:
        """Renew the lease; False if it was lost (taken over by another run)."""
        with self._serialized() as conn:
            result = conn.execute(
                sa.update(Lease).where(Lease.run_id == run_id).values(heartbeat_at=self._now(conn))
            )
        if result.rowcount:
            self.liveness.refresh(run_id)
        return bool(result.rowcount)

    def taken_over_by(self, run_id: str) -> str | None:
        """The run that took ``run_id``'s lease over, if the ledger knows it."""
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(Run.taken_over_by).where(Run.run_id == run_id)
            ).scalar_one_or_none()

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        rows_read: int,
        rows_written: int,
        error: str | None = None,
        exit_code: int | None = None,
        steps: Mapping[str, StepStats] | None = None,
        metrics: Mapping[str, float] | None = None,
        skip_reason: str | None = None,
    ) -> bool:
        """Record the outcome and release the lease, in one transaction.

        Returns False, and leaves the run's record alone, when the run is no longer
        running: another run took its lease over and recorded it as failed.
        """
        if error is not None:
            error = redaction.redact(error)[:ERROR_MAX_CHARS]
        try:
            for attempt in tenacity.Retrying(
                retry=tenacity.retry_if_exception_type(TransientError),
                stop=tenacity.stop_after_delay(self.finish_retry_seconds),
                wait=tenacity.wait_exponential(multiplier=0.5, max=5),
                before_sleep=_log_retry,
                reraise=True,
            ):
                with attempt:
                    return self._finish(
                        run_id,
                        status=status,
                        rows_read=rows_read,
                        rows_written=rows_written,
                        error=error,
                        exit_code=exit_code,
                        steps=steps,
                        metrics=metrics,
                        skip_reason=skip_reason,
                    )
        finally:
            # Lease row gone, or the ledger stayed unreachable: either way the next
            # run may take this run over (and reconcile it from the warehouse fence).
            self.liveness.release(run_id)
        raise AssertionError("not reached: tenacity reraises")  # pragma: no cover

    def _finish(
        self,
        run_id: str,
        *,
        status: str,
        rows_read: int,
        rows_written: int,
        error: str | None,
        exit_code: int | None,
        steps: Mapping[str, StepStats] | None,
        metrics: Mapping[str, float] | None,
        skip_reason: str | None = None,
    ) -> bool:
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
                    # a metric may be named after a secret (a table read from a file)
                    metrics={redaction.redact(k): v for k, v in (metrics or {}).items()} or None,
                    skip_reason=skip_reason,
                )
            )
            rows = [
                {
                    "run_id": run_id,
                    "step": name,
                    "seconds": step.seconds,
                    "status": "succeeded" if step.succeeded else "failed",
                    "rows_read": step.rows_read,
                    "rows_written": step.rows_written,
                    **_step_costs(step.counters),
                }
                for name, step in (steps or {}).items()
            ]
            if rows:  # one INSERT ... VALUES (...), (...) statement, in the order they ran
                conn.execute(sa.insert(Step).values(rows))
            conn.execute(sa.delete(Lease).where(Lease.run_id == run_id))
        return bool(updated.rowcount)

    # --- reconciliation and staging records ----------------------------------------

    def reconcile_published(self, run_id: str, *, by_run_id: str) -> bool:
        """The warehouse fence shows ``run_id`` published: record it as succeeded.

        For a run whose ledger write failed after its publish (it stayed running, then
        was taken over and marked failed). A run still alive, running with a live
        lease, is left alone: it records its own outcome. True if the ledger changed.
        """
        with self._serialized() as conn:
            now = self._now(conn)
            run = conn.execute(sa.select(Run).where(Run.run_id == run_id)).first()
            if run is None or run.status == "succeeded":
                return False
            lease = conn.execute(sa.select(Lease).where(Lease.run_id == run_id)).first()
            if lease is not None:
                if run.status == "running" and not self._gone(conn, lease, now):
                    return False
                conn.execute(sa.delete(Lease).where(Lease.run_id == run_id))
            was = f"{run.status}: {run.error}" if run.error else run.status
            conn.execute(
                sa.update(Run)
                .where(Run.run_id == run_id)
                .values(
                    status="succeeded",
                    exit_code=0,
                    finished_at=run.finished_at or now,
                    error=redaction.redact(
                        f"reconciled by run {by_run_id}: the warehouse fence shows it "
                        f"published (the ledger had {was})"
                    )[:ERROR_MAX_CHARS],
                )
            )
        _log.warning("run %s published but was recorded %s: now succeeded", run_id, run.status)
        return True

    def record_staging(self, run_id: str, connection: str, target: str, name: str) -> None:
        """Record that ``run_id`` creates staging table ``name`` (before it does)."""
        with self._serialized() as conn:
            conn.execute(
                sa.insert(Staging).values(
                    run_id=run_id,
                    connection=connection,
                    target=target,
                    name=name,
                    created_at=self._now(conn),
                )
            )

    def stale_staging(self, run_id: str, connection: str, target: str) -> list[str]:
        """Recorded, not dropped staging of ``target`` whose run is neither ``run_id``
        nor alive (a live lease whose holder is neither dead nor past the TTL)."""
        with self._serialized() as conn:
            return stale_staging_names(
                conn, self.liveness, self.lease_ttl, run_id, connection, target
            )

    def staging_dropped(self, connection: str, name: str) -> None:
        """Record that staging table ``name`` is gone (dropped, or found missing)."""
        with self._serialized() as conn:
            conn.execute(
                sa.update(Staging)
                .where(
                    Staging.connection == connection,
                    Staging.name == name,
                    Staging.dropped_at.is_(None),
                )
                .values(dropped_at=self._now(conn))
            )

    def ledger(self, run_id: str) -> RunLedger:
        """The `LedgerHandle` a running job gets, bound to its run."""
        return RunLedger(self, run_id)

    # --- queries ----------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(Run).where(Run.run_id == run_id)).first()
        return _record(row) if row else None

    def steps(self, run_id: str) -> list[StepRow]:
        """The recorded steps of a run, in the order they ran (a ledger downgraded
        below 0005 has no cost columns: read without them)."""
        columns = [Step.step, Step.seconds, Step.status, Step.rows_read, Step.rows_written]
        costs = [getattr(Step, name) for name in STEP_COST_COLUMNS]

        def query(*selected: Any) -> Any:
            return sa.select(*selected).where(Step.run_id == run_id).order_by(Step.id)

        with self.engine.connect() as conn:
            try:
                rows = conn.execute(query(*columns, *costs)).all()
            except (OperationalError, ProgrammingError):
                conn.rollback()
                rows = conn.execute(query(*columns)).all()
        return [StepRow(*row) for row in rows]

    def runs(self, transfer: str | None = None, limit: int = 50) -> list[RunRecord]:
        query = sa.select(Run).order_by(Run.started_at.desc()).limit(limit)
        if transfer:
            query = query.where(Run.transfer == transfer)
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def unchanged_since(self, run_id: str) -> str | None:
        """The run whose output ``run_id`` would rebuild unchanged: the latest succeeded
        run of its transfer whose window overlaps ``run_id``'s, if it has the same window
        and the same (non-NULL) fingerprint. Call it holding ``run_id``'s lease: no run
        overlapping the window can publish meanwhile."""
        with self.engine.connect() as conn:
            run = conn.execute(sa.select(Run).where(Run.run_id == run_id)).first()
            if run is None or run.fingerprint is None:
                return None
            window = Window(run.window_start, run.window_end)
            rows = conn.execute(
                sa.select(Run.run_id, Run.window_start, Run.window_end, Run.fingerprint)
                .where(
                    Run.transfer == run.transfer,
                    Run.status == "succeeded",
                    Run.run_id != run_id,
                )
                .order_by(Run.finished_at.desc(), Run.started_at.desc())
            ).all()
        for row in rows:
            other = Window(row.window_start, row.window_end)
            if other == window:
                return str(row.run_id) if row.fingerprint == run.fingerprint else None
            if other.overlaps(window):
                return None
        return None

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

    def uncovered(self, transfer: str, window: Window) -> Window | None:
        """The first part of the bounded ``window`` that no succeeded run of ``transfer``
        covers (None: all of it is covered). A truncate run covers every day up to its
        execution date; a delta run its window."""
        if window.start is None or window.end is None:
            raise ValueError("uncovered() needs a bounded window")
        with self.engine.connect() as conn:
            rows = conn.execute(succeeded_spans(transfer)).all()
        return uncovered_part(rows, window)


def ledger_now(conn: Connection) -> dt.datetime:
    """The ledger's clock: the database server's on PostgreSQL (leases taken and renewed
    from machines whose clocks disagree are judged by one clock), ours on SQLite."""
    if conn.dialect.name == "sqlite":
        return utcnow()
    return _aware(conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one())


def lease_gone(
    liveness: Liveness, conn: Connection, lease: Any, now: dt.datetime, ttl: dt.timedelta
) -> str | None:
    """Why ``lease`` may be taken over (its holder died, or hangs past ``ttl``)."""
    # A lease without a token was taken by a version without liveness locks.
    if lease.fence_token is not None and liveness.is_dead(conn, lease.run_id):
        return PROCESS_DIED
    if now - _aware(lease.heartbeat_at) > ttl:
        return LEASE_EXPIRED
    return None


def stale_staging_names(
    conn: Connection,
    liveness: Liveness,
    ttl: dt.timedelta,
    run_id: str,
    connection: str,
    target: str,
) -> list[str]:
    """`RunStore.stale_staging` on ``conn``: what a run's cleansing drops, and what
    ``pipeline --plan`` lists (there on a read-only connection, with read-only liveness)."""
    now = ledger_now(conn)
    rows = conn.execute(
        sa.select(Staging.run_id, Staging.name)
        .where(
            Staging.connection == connection,
            Staging.target == target,
            Staging.dropped_at.is_(None),
            Staging.run_id != run_id,
        )
        .order_by(Staging.id)
    ).all()
    owners = {row.run_id for row in rows}
    leases = conn.execute(sa.select(Lease).where(Lease.run_id.in_(owners))).all()
    live = {lease.run_id for lease in leases if not lease_gone(liveness, conn, lease, now, ttl)}
    return list(dict.fromkeys(row.name for row in rows if row.run_id not in live))


def succeeded_spans(transfer: str) -> Any:
    """(window_start, window_end, execution_date) of the succeeded runs of ``transfer``."""
    return sa.select(Run.window_start, Run.window_end, Run.execution_date).where(
        Run.transfer == transfer, Run.status == "succeeded"
    )


def uncovered_part(rows: Any, window: Window) -> Window | None:
    """`RunStore.uncovered` of the rows of `succeeded_spans` (also ``pipeline --plan``)."""
    assert window.start is not None and window.end is not None
    spans = sorted((start or dt.date.min, end or day + ONE_DAY) for start, end, day in rows)
    day = window.start
    for start, end in spans:
        if start > day:
            break
        day = max(day, end)
        if day >= window.end:
            return None
    return Window(day, window.end)


def _step_costs(counters: Mapping[str, float]) -> dict[str, int | None]:
    """The step's ``bq_*`` columns: NULL all along for a step that ran no BigQuery job,
    and for each figure no job of the step reported."""
    if not counters.get("bq_jobs"):
        return dict.fromkeys(STEP_COST_COLUMNS)
    return {
        name: None if counters.get(name) is None else int(counters[name])
        for name in STEP_COST_COLUMNS
    }


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
        skip_reason=run.skip_reason,
        orchestrator_run_id=run.orchestrator_run_id,
    )


def _unreachable(exc: SQLAlchemyError) -> ETLError:
    """The ledger's database failed: our error for it (config or transient)."""
    from etl_framework.db import database_error

    # A ProgrammingError (e.g. permission denied) is a refusal: retrying cannot fix it.
    error = database_error(exc, "run ledger", refused=isinstance(exc, ProgrammingError))
    if error is None:  # not reached: both kinds are database errors
        error = TransientError(f"run ledger unreachable: {redaction.redact(str(exc))}")
    return error


def _log_retry(state: tenacity.RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    _log.warning(
        "recording the run in the ledger failed (attempt %d), retrying: %s",
        state.attempt_number,
        error,
    )


class RunLedger:
    """The real `LedgerHandle`: the ledger as one run sees it."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id

    def record_staging(self, connection: str, target: str, name: str) -> None:
        self.store.record_staging(self.run_id, connection, target, name)

    def stale_staging(self, connection: str, target: str) -> list[str]:
        return self.store.stale_staging(self.run_id, connection, target)

    def staging_dropped(self, connection: str, name: str) -> None:
        self.store.staging_dropped(connection, name)

    def reconcile_published(self, run_id: str) -> bool:
        if run_id == self.run_id:
            return False
        return self.store.reconcile_published(run_id, by_run_id=self.run_id)


class Heartbeat:
    """Renews a lease in the background; calls ``on_lost(taken_over_by)`` (the run
    that took it over, None if unknown) when it was lost."""

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
                try:
                    by = self._store.taken_over_by(self._run_id)
                except Exception:  # the ledger is flaky: the run is lost all the same
                    by = None
                self._on_lost(by)
                return
