"""The executions tables of the run ledger (declared on the ledger's metadata, so the
ledger's migrations and the models-vs-migrations check see them)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from etl_framework.state.models import Base, metadata


class Execution(Base):
    """One pipeline execution, opened by ``init`` and closed by ``complete``."""

    __table__ = Table(
        "etl_executions",
        metadata,
        Column("execution_id", String(36), primary_key=True),
        Column("status", String(16), nullable=False, index=True),  # running or completed
        Column("started_at", DateTime(timezone=True), nullable=False),
        Column("completed_at", DateTime(timezone=True)),
    )


class ExecutionStep(Base):
    """A named step (LOAD, TRANSFORM, ...) of an execution: its models' checksums."""

    __table__ = Table(
        "etl_execution_steps",
        metadata,
        Column("step_id", String(36), primary_key=True),
        Column(
            "execution_id",
            String(36),
            ForeignKey("etl_executions.execution_id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        Column("name", String(100), nullable=False),
        Column("base_path", Text, nullable=False),
        Column("status", String(16), nullable=False),
        Column("started_at", DateTime(timezone=True), nullable=False),
        Column("completed_at", DateTime(timezone=True)),
        Column("rows_processed", BigInteger),
        UniqueConstraint("execution_id", "name", name="uq_etl_execution_steps_name"),
    )


class ModelChecksum(Base):
    """The sha256 of one model file of a step, as it was when the step began."""

    __table__ = Table(
        "etl_model_checksums",
        metadata,
        Column(
            "step_id",
            String(36),
            ForeignKey("etl_execution_steps.step_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        # the file name without its extension (unique within a step)
        Column("model", String(255), primary_key=True),
        # the file's path relative to the step's base path
        Column("path", Text, nullable=False),
        Column("checksum", String(64), nullable=False),
    )
