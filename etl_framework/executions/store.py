"""`ExecutionStore`: executions, steps and model checksums in the run ledger.

Each change is one transaction whose condition is in its UPDATE (``... WHERE
completed_at IS NULL``): two processes completing the same step cannot both succeed.
Every misuse (an unknown or malformed id, completing twice, a step of another
execution) is a `UsageError` (exit 2) that changes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from etl_framework.exceptions import UsageError
from etl_framework.executions.checksums import ModelFile, find_models
from etl_framework.executions.models import Execution, ExecutionStep, ModelChecksum
from etl_framework.state.store import RunStore, utcnow

RUNNING = "running"
COMPLETED = "completed"


def parse_id(value: str, kind: str) -> str:
    """A canonical UUID string; UsageError naming ``kind`` if ``value`` is none."""
    try:
        return str(uuid.UUID(value.strip()))
    except (ValueError, AttributeError):
        raise UsageError(f"{value!r} is not a valid {kind} id (a UUID)") from None


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class NewStep:
    """What ``init-step`` created: the step's id and the models it recorded."""

    step_id: str
    models: list[ModelFile]


class ExecutionStore:
    """Executions on the ledger at ``url`` (its schema migrated like the run ledger's)."""

    def __init__(self, url: str, *, auto_migrate: bool | None = None) -> None:
        self.runs = RunStore(url)
        self.engine = self.runs.engine
        try:
            self.runs.ensure_schema(auto_migrate)
        except BaseException:
            self.runs.close()
            raise

    def close(self) -> None:
        self.runs.close()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        from etl_framework.state.store import _unreachable

        try:
            with self.engine.begin() as conn:
                yield conn
        except (OperationalError, ProgrammingError) as exc:
            raise _unreachable(exc) from None

    # --- executions ------------------------------------------------------------------

    def init(self) -> str:
        execution_id = str(uuid.uuid4())
        with self._begin() as conn:
            conn.execute(
                sa.insert(Execution).values(
                    execution_id=execution_id, status=RUNNING, started_at=utcnow()
                )
            )
        return execution_id

    def last_successful(self) -> str | None:
        """The most recently completed execution's id (None: none completed yet)."""
        with self._begin() as conn:
            return conn.execute(
                sa.select(Execution.execution_id)
                .where(Execution.status == COMPLETED)
                .order_by(Execution.completed_at.desc(), Execution.execution_id.desc())
                .limit(1)
            ).scalar_one_or_none()

    def completed_at(self, execution_id: str) -> dt.datetime:
        with self._begin() as conn:
            row = self._execution(conn, execution_id)
        if row.completed_at is None:
            raise UsageError(f"execution {row.execution_id} is not completed")
        return _aware(row.completed_at)

    def complete(self, execution_id: str) -> None:
        with self._begin() as conn:
            row = self._execution(conn, execution_id)
            done = conn.execute(
                sa.update(Execution)
                .where(Execution.execution_id == row.execution_id, Execution.status == RUNNING)
                .values(status=COMPLETED, completed_at=utcnow())
            )
            if not done.rowcount:
                raise UsageError(f"execution {row.execution_id} is already completed")

    @staticmethod
    def _execution(conn: Connection, execution_id: str) -> Any:
        ident = parse_id(execution_id, "execution")
        row = conn.execute(sa.select(Execution).where(Execution.execution_id == ident)).first()
        if row is None:
            raise UsageError(f"no execution {ident}")
        return row

    # --- steps ---------------------------------------------------------------------

    def init_step(
        self, execution_id: str, name: str, base_path: str, patterns: Sequence[str]
    ) -> NewStep:
        """Record a step and the checksums of its model files (none is allowed)."""
        if not name.strip() or len(name) > 100:
            raise UsageError("a step name must be 1 to 100 characters")
        models = find_models(base_path, list(patterns))  # before touching the ledger
        step_id = str(uuid.uuid4())
        try:
            with self._begin() as conn:
                execution = self._execution(conn, execution_id)
                if execution.status != RUNNING:
                    raise UsageError(f"execution {execution.execution_id} is already completed")
                conn.execute(
                    sa.insert(ExecutionStep).values(
                        step_id=step_id,
                        execution_id=execution.execution_id,
                        name=name,
                        base_path=str(base_path),
                        status=RUNNING,
                        started_at=utcnow(),
                    )
                )
                if models:
                    conn.execute(
                        sa.insert(ModelChecksum),
                        [
                            {
                                "step_id": step_id,
                                "model": m.name,
                                "path": m.path,
                                "checksum": m.checksum,
                            }
                            for m in models
                        ],
                    )
        except IntegrityError:
            raise UsageError(
                f"execution {parse_id(execution_id, 'execution')} already has a step {name!r}"
            ) from None
        return NewStep(step_id, models)

    def complete_step(self, step_id: str, rows: int | None = None) -> None:
        with self._begin() as conn:
            step = self._step(conn, step_id)
            execution = self._execution(conn, step.execution_id)
            if execution.status != RUNNING:
                raise UsageError(
                    f"step {step.step_id} belongs to execution {step.execution_id}, "
                    "which is already completed"
                )
            done = conn.execute(
                sa.update(ExecutionStep)
                .where(ExecutionStep.step_id == step.step_id, ExecutionStep.status == RUNNING)
                .values(status=COMPLETED, completed_at=utcnow(), rows_processed=rows)
            )
            if not done.rowcount:
                raise UsageError(f"step {step.step_id} is already completed")

    def compare(self, step_id: str, previous_execution_id: str) -> list[str]:
        """Sorted names of the models of ``step_id`` whose checksum differs from the
        same-named step of the previous execution, added or removed models included
        (every model, when the previous execution has no such step)."""
        with self._begin() as conn:
            step = self._step(conn, step_id)
            previous = self._execution(conn, previous_execution_id)
            if previous.execution_id == step.execution_id:
                raise UsageError(
                    f"step {step.step_id} belongs to execution {step.execution_id}: "
                    "compare it with an earlier execution"
                )
            now = self._checksums(conn, step.step_id)
            before_step = conn.execute(
                sa.select(ExecutionStep.step_id).where(
                    ExecutionStep.execution_id == previous.execution_id,
                    ExecutionStep.name == step.name,
                )
            ).scalar_one_or_none()
            before = self._checksums(conn, before_step) if before_step else {}
        names = set(now) | set(before)
        return sorted(n for n in names if now.get(n) != before.get(n))

    @staticmethod
    def _checksums(conn: Connection, step_id: str) -> dict[str, str]:
        rows = conn.execute(
            sa.select(ModelChecksum.model, ModelChecksum.checksum).where(
                ModelChecksum.step_id == step_id
            )
        ).all()
        return {row.model: row.checksum for row in rows}

    @staticmethod
    def _step(conn: Connection, step_id: str) -> Any:
        ident = parse_id(step_id, "step")
        row = conn.execute(sa.select(ExecutionStep).where(ExecutionStep.step_id == ident)).first()
        if row is None:
            raise UsageError(f"no step {ident}")
        return row
