"""The run ledger's tables (SQLAlchemy Core, addressed as the declarative models were).

``Run.status`` is the ``etl_runs.status`` column and ``sa.select(Run)``,
``sa.insert(Run)`` address the table, as with the ORM models these replaced, without
importing SQLAlchemy's ORM (~90 ms and several MB at every run's start: the ledger
only ever ran Core statements on them). ``Base.metadata`` holds every ledger table.

Schema changes go through an alembic migration in ``state/migrations/versions``;
`tests/unit/state/test_migrations.py` checks the models and migrations agree.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()


class _TableMeta(type):
    """``Model.column`` is the table's column; the class is its table in statements."""

    def __getattr__(cls, name: str) -> Column[Any]:
        table = cls.__dict__.get("__table__")
        if table is None or name not in table.c:
            raise AttributeError(f"{cls.__name__} has no column {name!r}")
        column: Column[Any] = table.c[name]
        return column

    def __clause_element__(cls) -> Table:
        table: Table = cls.__dict__["__table__"]
        return table


class Base(metaclass=_TableMeta):
    """A ledger table: ``__table__`` declares it, on ``Base.metadata``."""

    metadata: ClassVar[MetaData] = metadata
    __table__: ClassVar[Table]
    __tablename__: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__tablename__ = cls.__table__.name


def _dt(name: str, *, nullable: bool = False) -> Column[Any]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


class Run(Base):
    """One execution of one transfer."""

    __table__ = Table(
        "etl_runs",
        metadata,
        Column("run_id", String(36), primary_key=True),
        Column("transfer", String(100), nullable=False, index=True),
        Column("execution_date", Date, nullable=False),
        Column("mode", String(16), nullable=False),
        Column("window_start", Date),
        Column("window_end", Date),
        Column("status", String(16), nullable=False, index=True),
        _dt("started_at"),
        _dt("finished_at", nullable=True),
        Column("rows_read", BigInteger, nullable=False, default=0),
        Column("rows_written", BigInteger, nullable=False, default=0),
        Column("error", Text),
        Column("exit_code", Integer),
        Column("config_checksum", String(64)),
        Column("code_version", String(64)),
        Column("image_tag", String(255)),
        Column("host", String(255)),
        Column("pid", Integer),
        Column("metrics", JSON),
        # the fencing token issued with the run's lease (NULL for pre-0003 runs)
        Column("fence_token", BigInteger),
        # the run that took this run's lease over (it died, or its heartbeat stopped)
        Column("taken_over_by", String(36)),
        # sha256 of the run's inputs (etl_framework.executions.fingerprint); NULL: not
        # computable
        Column("fingerprint", String(64)),
        # why a skipped run did nothing (its inputs match an earlier run's)
        Column("skip_reason", Text),
        # the run id of the orchestrator that started the run (Airflow's run_id)
        Column("orchestrator_run_id", String(250)),
        Index("ix_etl_runs_transfer_status", "transfer", "status"),
    )


class Step(Base):
    """Timing and outcome of each lifecycle step of a run."""

    __table__ = Table(
        "etl_run_steps",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column(
            "run_id",
            String(36),
            ForeignKey("etl_runs.run_id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        Column("step", String(64), nullable=False),
        Column("seconds", Float, nullable=False),
        # succeeded or failed (NULL for rows written before migration 0002)
        Column("status", String(16)),
        Column("rows_read", BigInteger),  # rows read during this step
        Column("rows_written", BigInteger),  # rows written (published) during this step
        # BigQuery jobs (query, load, copy) the step ran; NULL: none (or a pre-0005 row)
        Column("bq_jobs", Integer),
        Column("bq_load_jobs", Integer),  # BigQuery load jobs among them
        # bytes those jobs processed (NULL: no job reported it; unknown is not 0)
        Column("bq_bytes_processed", BigInteger),
        # bytes billed (query jobs report it; load jobs are free and do not)
        Column("bq_bytes_billed", BigInteger),
        Column("bq_slot_ms", BigInteger),  # slot milliseconds (totalSlotMs)
    )


class Lease(Base):
    """A live claim on (transfer, window), kept alive by heartbeats."""

    __table__ = Table(
        "etl_leases",
        metadata,
        Column("run_id", String(36), primary_key=True),
        Column("transfer", String(100), nullable=False, index=True),
        Column("window_start", Date),
        Column("window_end", Date),
        # 1: conflicts with every other lease of the transfer (no parallel windows)
        Column("exclusive", Integer, nullable=False, default=0),
        Column("host", String(255), nullable=False),
        _dt("acquired_at"),
        _dt("heartbeat_at"),
        # the lease's fencing token (NULL: taken by a pre-0003 version; no liveness lock)
        Column("fence_token", BigInteger),
        # canonical keys of the target tables the run writes (one writer per target)
        Column("targets", JSON),
    )


class FenceCounter(Base):
    """One row: the last fencing token issued. Tokens only grow."""

    __table__ = Table(
        "etl_fence_tokens",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("last_token", BigInteger, nullable=False),
    )


class Staging(Base):
    """A staging table a run creates, recorded before it is created: cleanup drops
    only what is recorded here, never a table that merely matches a name pattern."""

    __table__ = Table(
        "etl_staging",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", String(36), nullable=False, index=True),
        Column("connection", String(100), nullable=False),
        Column("target", String(255), nullable=False),
        Column("name", String(255), nullable=False),
        _dt("created_at"),
        _dt("dropped_at", nullable=True),
        Index("ix_etl_staging_connection_target", "connection", "target"),
    )
