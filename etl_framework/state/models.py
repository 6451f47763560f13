"""The run ledger's tables (SQLAlchemy 2 declarative models).

Schema changes go through an alembic migration in ``state/migrations/versions``;
`tests/unit/state/test_migrations.py` checks the models and migrations agree.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Run(Base):
    """One execution of one transfer."""

    __tablename__ = "etl_runs"

    run_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    transfer: Mapped[str] = mapped_column(String(100), index=True)
    execution_date: Mapped[dt.date] = mapped_column(Date)
    mode: Mapped[str] = mapped_column(String(16))
    window_start: Mapped[dt.date | None] = mapped_column(Date)
    window_end: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_written: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    config_checksum: Mapped[str | None] = mapped_column(String(64))
    code_version: Mapped[str | None] = mapped_column(String(64))
    image_tag: Mapped[str | None] = mapped_column(String(255))
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    metrics: Mapped[dict[str, float] | None] = mapped_column(JSON)
    fence_token: Mapped[int | None] = mapped_column(BigInteger)
    """The fencing token issued with the run's lease (NULL for pre-0003 runs)."""
    taken_over_by: Mapped[str | None] = mapped_column(String(36))
    """The run that took this run's lease over (it died, or its heartbeat stopped)."""
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    """sha256 of the run's inputs (`etl_framework.executions.fingerprint`); NULL: not
    computable."""
    skip_reason: Mapped[str | None] = mapped_column(Text)
    """Why a ``skipped`` run did nothing (its inputs match an earlier run's)."""
    orchestrator_run_id: Mapped[str | None] = mapped_column(String(250))
    """The run id of the orchestrator that started the run (Airflow's ``run_id``)."""

    __table_args__ = (Index("ix_etl_runs_transfer_status", "transfer", "status"),)


class Step(Base):
    """Timing and outcome of each lifecycle step of a run."""

    __tablename__ = "etl_run_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(
        ForeignKey("etl_runs.run_id", ondelete="CASCADE"), index=True
    )
    step: Mapped[str] = mapped_column(String(64))
    seconds: Mapped[float] = mapped_column(Float)
    status: Mapped[str | None] = mapped_column(String(16))
    """succeeded or failed (NULL for rows written before migration 0002)."""
    rows_read: Mapped[int | None] = mapped_column(BigInteger)
    """Rows read during this step."""
    rows_written: Mapped[int | None] = mapped_column(BigInteger)
    """Rows written (published) during this step."""
    bq_jobs: Mapped[int | None] = mapped_column(Integer)
    """BigQuery jobs (query, load, copy) the step ran; NULL: none (or a pre-0005 row)."""
    bq_load_jobs: Mapped[int | None] = mapped_column(Integer)
    """BigQuery load jobs among them."""
    bq_bytes_processed: Mapped[int | None] = mapped_column(BigInteger)
    """Bytes those jobs processed (NULL: no job reported it; unknown is not 0)."""
    bq_bytes_billed: Mapped[int | None] = mapped_column(BigInteger)
    """Bytes billed (query jobs report it; load jobs are free and do not)."""
    bq_slot_ms: Mapped[int | None] = mapped_column(BigInteger)
    """Slot milliseconds (``totalSlotMs``)."""


class Lease(Base):
    """A live claim on (transfer, window), kept alive by heartbeats."""

    __tablename__ = "etl_leases"

    run_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    transfer: Mapped[str] = mapped_column(String(100), index=True)
    window_start: Mapped[dt.date | None] = mapped_column(Date)
    window_end: Mapped[dt.date | None] = mapped_column(Date)
    exclusive: Mapped[int] = mapped_column(Integer, default=0)
    """1: conflicts with every other lease of the transfer (no parallel windows)."""
    host: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    fence_token: Mapped[int | None] = mapped_column(BigInteger)
    """The lease's fencing token (NULL: taken by a pre-0003 version; no liveness lock)."""
    targets: Mapped[list[str] | None] = mapped_column(JSON)
    """Canonical keys of the target tables the run writes (one writer per target)."""


class FenceCounter(Base):
    """One row: the last fencing token issued. Tokens only grow."""

    __tablename__ = "etl_fence_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_token: Mapped[int] = mapped_column(BigInteger)


class Staging(Base):
    """A staging table a run creates, recorded before it is created: cleanup drops
    only what is recorded here, never a table that merely matches a name pattern."""

    __tablename__ = "etl_staging"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(36), index=True)
    connection: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    dropped_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_etl_staging_connection_target", "connection", "target"),)
