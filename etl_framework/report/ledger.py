"""Read what the report shows from the ledger, read-only, in a few queries.

The calendar needs every run's window (one lean query over all runs, reduced to one
status per day in Python); the tables and charts need the last runs of each transfer
(one indexed query per transfer); the run pages need those runs' steps.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from etl_framework.exceptions import ConfigError
from etl_framework.state.models import Run, Step
from etl_framework.state.store import STEP_COST_COLUMNS

ONE_DAY = dt.timedelta(days=1)
DEFAULT_DAYS = 366
"""Days the calendar shows, ending at the last day any run covered."""
DEFAULT_RUNS = 50
"""Last runs listed (each with its own page) per transfer."""
CHART_RUNS = 200
"""Last runs drawn in a transfer's duration and rows charts."""
STATUS_ORDER = ("succeeded", "running", "failed", "skipped")
"""A day's status: the first of these any run covering it has ("never" if none)."""


@dataclass(frozen=True)
class RunRow:
    run_id: str
    transfer: str
    execution_date: dt.date
    mode: str
    window_start: dt.date | None
    window_end: dt.date | None
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    rows_read: int
    rows_written: int
    error: str | None
    exit_code: int | None
    code_version: str | None
    image_tag: str | None
    host: str | None
    orchestrator_run_id: str | None = None
    """The Airflow run id or Kubernetes Job name that started the run (None: started by
    hand, or a ledger before 0006)."""

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return max((_aware(self.finished_at) - _aware(self.started_at)).total_seconds(), 0.0)

    @property
    def window(self) -> str:
        if self.window_start is None or self.window_end is None:
            return "full table"
        last = self.window_end - ONE_DAY
        if last == self.window_start:
            return self.window_start.isoformat()
        return f"{self.window_start.isoformat()} .. {last.isoformat()}"


@dataclass(frozen=True)
class StepRow:
    step: str
    seconds: float
    status: str | None
    rows_read: int | None
    rows_written: int | None
    bigquery: tuple[int | None, ...] = ()
    """``etl_run_steps.bq_*`` (`etl_framework.state.store.STEP_COST_COLUMNS`); empty:
    a ledger before 0005."""


@dataclass
class TransferHistory:
    name: str
    runs_total: int = 0
    days: dict[dt.date, str] = field(default_factory=dict)
    """Status of each day some run covered (days without an entry were never run)."""
    last_runs: list[RunRow] = field(default_factory=list)
    """Newest first, at most ``runs`` of them."""
    chart_runs: list[RunRow] = field(default_factory=list)
    """Oldest first, at most `CHART_RUNS`."""


@dataclass
class History:
    location: str
    """The ledger URL with its password masked."""
    generated_at: dt.datetime
    first_day: dt.date | None
    last_day: dt.date | None
    transfers: list[TransferHistory]
    steps: dict[str, list[StepRow]]

    @property
    def runs_total(self) -> int:
        return sum(t.runs_total for t in self.transfers)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def readonly_engine(url: str) -> Engine:
    """An engine that cannot write: SQLite opened ``mode=ro``, PostgreSQL read-only
    transactions. A SQLite ledger that does not exist is an error, never created.

    Raises:
        ConfigError: The URL is not usable or names no SQLite file.
    """
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise ConfigError(f"state.url is not usable: {type(exc).__name__}") from None
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ConfigError("state.url names no SQLite file: nothing to report")
        path = Path(parsed.database).resolve()
        if not path.is_file():
            raise ConfigError(f"no run ledger at {path} (run a pipeline first)")
        uri = f"{path.as_uri().replace('file://', 'file:', 1)}?mode=ro"
        return sa.create_engine(
            "sqlite://",
            creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
            poolclass=sa.pool.NullPool,
        )
    try:
        return sa.create_engine(
            parsed,
            poolclass=sa.pool.NullPool,
            execution_options={"postgresql_readonly": True},
        )
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise ConfigError(f"state.url is not usable: {type(exc).__name__}: {exc}") from None


@contextmanager
def ledger_connection(engine: Engine) -> Iterator[Connection]:
    from etl_framework.db import database_error

    try:
        with engine.connect() as conn:
            yield conn
    except SQLAlchemyError as exc:
        error = database_error(exc, "run ledger", refused=True)
        if error is None:
            raise
        raise error from None


_RUN_COLUMNS = (
    Run.run_id,
    Run.transfer,
    Run.execution_date,
    Run.mode,
    Run.window_start,
    Run.window_end,
    Run.status,
    Run.started_at,
    Run.finished_at,
    Run.rows_read,
    Run.rows_written,
    Run.error,
    Run.exit_code,
    Run.code_version,
    Run.image_tag,
    Run.host,
)


def _run_row(row: Any) -> RunRow:
    return RunRow(
        run_id=str(row.run_id),
        transfer=str(row.transfer),
        execution_date=row.execution_date,
        mode=str(row.mode),
        window_start=row.window_start,
        window_end=row.window_end,
        status=str(row.status),
        started_at=_aware(row.started_at),
        finished_at=_aware(row.finished_at) if row.finished_at else None,
        rows_read=int(row.rows_read or 0),
        rows_written=int(row.rows_written or 0),
        error=row.error,
        exit_code=row.exit_code,
        code_version=row.code_version,
        image_tag=row.image_tag,
        host=row.host,
        orchestrator_run_id=getattr(row, "orchestrator_run_id", None),
    )


def covered_days(
    window_start: dt.date | None, window_end: dt.date | None, execution_date: dt.date
) -> tuple[dt.date, dt.date]:
    """[first, end) of the days a run covered: its window, or (a truncate run, which
    rebuilds the whole table as of that day) its execution date."""
    if window_start is None or window_end is None:
        return execution_date, execution_date + ONE_DAY
    return window_start, window_end


def _rank(status: str) -> int:
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER)


def read_history(
    url: str,
    *,
    location: str | None = None,
    days: int = DEFAULT_DAYS,
    runs: int = DEFAULT_RUNS,
) -> History:
    """Everything the report shows, read from the ledger at ``url`` without writing.

    Raises:
        ConfigError: No ledger there (or no runs table in it).
        TransientError: The ledger's database is unreachable.
    """
    engine = readonly_engine(url)
    try:
        with ledger_connection(engine) as conn:
            if not sa.inspect(conn).has_table(Run.__tablename__):
                raise ConfigError("the ledger has no runs table yet (run a pipeline first)")
            return _read(conn, location or _masked(url), days, runs)
    finally:
        engine.dispose()


def _masked(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _read(conn: Connection, location: str, days: int, runs: int) -> History:
    spans: dict[str, list[tuple[dt.date, dt.date, str]]] = {}
    last_day: dt.date | None = None
    query = sa.select(
        Run.transfer, Run.status, Run.window_start, Run.window_end, Run.execution_date
    )
    for transfer, status, start, end, day in conn.execute(query):
        first, stop = covered_days(start, end, day)
        spans.setdefault(transfer, []).append((first, stop, status))
        if last_day is None or stop - ONE_DAY > last_day:
            last_day = stop - ONE_DAY
    first_day = last_day - dt.timedelta(days=days - 1) if last_day is not None else None
    transfers = []
    listed: list[str] = []
    run_columns = list(_RUN_COLUMNS)
    if "orchestrator_run_id" in {
        c["name"] for c in sa.inspect(conn).get_columns(Run.__tablename__)
    }:
        run_columns.append(Run.orchestrator_run_id)  # pre-0006 ledgers lack it
    for name in sorted(spans):
        history = TransferHistory(name, runs_total=len(spans[name]))
        assert first_day is not None and last_day is not None
        for first, stop, status in spans[name]:
            day = max(first, first_day)
            stop = min(stop, last_day + ONE_DAY)
            while day < stop:
                known = history.days.get(day)
                if known is None or _rank(status) < _rank(known):
                    history.days[day] = status
                day += ONE_DAY
        newest = [
            _run_row(row)
            for row in conn.execute(
                sa.select(*run_columns)
                .where(Run.transfer == name)
                .order_by(Run.started_at.desc(), Run.run_id)
                .limit(max(runs, CHART_RUNS))
            )
        ]
        history.last_runs = newest[:runs]
        history.chart_runs = list(reversed(newest[:CHART_RUNS]))
        listed.extend(r.run_id for r in history.last_runs)
        transfers.append(history)
    return History(
        location=location,
        generated_at=dt.datetime.now(dt.UTC),
        first_day=first_day,
        last_day=last_day,
        transfers=transfers,
        steps=_steps(conn, listed),
    )


def _steps(conn: Connection, run_ids: list[str]) -> dict[str, list[StepRow]]:
    steps: dict[str, list[StepRow]] = {run_id: [] for run_id in run_ids}
    if not sa.inspect(conn).has_table(Step.__tablename__):
        return steps
    columns = [c["name"] for c in sa.inspect(conn).get_columns(Step.__tablename__)]
    has_rows = "rows_read" in columns and "status" in columns  # pre-0002 ledgers lack them
    has_costs = set(STEP_COST_COLUMNS) <= set(columns)  # pre-0005 ledgers lack them
    for chunk in range(0, len(run_ids), 500):
        ids = run_ids[chunk : chunk + 500]
        wanted = [Step.run_id, Step.step, Step.seconds]
        if has_rows:
            wanted += [Step.status, Step.rows_read, Step.rows_written]
        if has_costs:
            wanted += [getattr(Step, name) for name in STEP_COST_COLUMNS]
        for row in conn.execute(sa.select(*wanted).where(Step.run_id.in_(ids)).order_by(Step.id)):
            steps[row.run_id].append(
                StepRow(
                    step=row.step,
                    seconds=float(row.seconds or 0.0),
                    status=row.status if has_rows else None,
                    rows_read=row.rows_read if has_rows else None,
                    rows_written=row.rows_written if has_rows else None,
                    bigquery=tuple(getattr(row, c) for c in STEP_COST_COLUMNS) if has_costs else (),
                )
            )
    return steps
