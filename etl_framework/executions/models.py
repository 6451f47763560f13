"""The executions tables of the run ledger (declared on the ledger's metadata, so the
ledger's migrations and the models-vs-migrations check see them)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from etl_framework.state.models import Base


class Execution(Base):
    """One pipeline execution, opened by ``init`` and closed by ``complete``."""

    __tablename__ = "etl_executions"

    execution_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    """running or completed."""
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ExecutionStep(Base):
    """A named step (LOAD, TRANSFORM, ...) of an execution: its models' checksums."""

    __tablename__ = "etl_execution_steps"

    step_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    execution_id: Mapped[str] = mapped_column(
        ForeignKey("etl_executions.execution_id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    base_path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    rows_processed: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (UniqueConstraint("execution_id", "name", name="uq_etl_execution_steps_name"),)


class ModelChecksum(Base):
    """The sha256 of one model file of a step, as it was when the step began."""

    __tablename__ = "etl_model_checksums"

    step_id: Mapped[str] = mapped_column(
        ForeignKey("etl_execution_steps.step_id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(255), primary_key=True)
    """The file name without its extension (unique within a step)."""
    path: Mapped[str] = mapped_column(Text)
    """The file's path relative to the step's base path."""
    checksum: Mapped[str] = mapped_column(String(64))
