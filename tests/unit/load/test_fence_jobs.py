"""The fence through the job lifecycle (`TableTransferJob`), on a SQLite warehouse.

Contexts carry explicit fencing tokens and ledger handles (an in-memory ledger), as the
runner gives them once the ledger issues tokens: a run that a newer run overtakes while
it loads fails with `FencedOutError` (exit 4) in its publish, leaves the target as it
was, drops its own staging and nothing else; a run older than the last claim stops in
``pre_execution_cleansing``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from etl_framework.config import config_from_mapping
from etl_framework.context import Connections, RunContext
from etl_framework.exceptions import ExitCode, FencedOutError
from etl_framework.job import Outcome, RunStatus, Step
from etl_framework.load.sql.staging import list_staging
from etl_framework.transfers import TableTransferJob
from etl_framework.window import Window, WriteMode
from tests.support.ledger import FakeLedger
from tests.support.unit_orders import UnitOrdersJob, UnitOrdersOptions

EXECUTION_DATE = dt.date(2024, 1, 10)


def context(
    url: str, ledger: FakeLedger, run_id: str, token: int, version: int, mode: WriteMode
) -> RunContext:
    config = config_from_mapping({"connections": {"warehouse": {"type": "sql", "url": url}}})
    return RunContext(
        transfer="unit_orders",
        execution_date=EXECUTION_DATE,
        mode=mode,
        window=Window.unbounded()
        if mode is WriteMode.TRUNCATE
        else Window(EXECUTION_DATE - dt.timedelta(days=2), EXECUTION_DATE + dt.timedelta(days=1)),
        run_id=run_id,
        config=config,
        options=UnitOrdersOptions(rows=60, version=version),
        connections=Connections(config.connections),
        fence_token=token,
        ledger=ledger.handle(run_id),
    )


class OvertakenJob(UnitOrdersJob):
    """Halfway through its source, a newer run starts (its cleansing claims the target)."""

    newer: TableTransferJob | None = None

    def source(self) -> Iterator[dict[str, Any]]:
        for i, record in enumerate(super().source()):
            if i == 5 and self.newer is not None:
                self.newer.pre_execution_cleansing()
            yield record


def table(url: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM orders ORDER BY id")]
    finally:
        engine.dispose()


def staging(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list_staging(conn, "orders")
    finally:
        engine.dispose()


def run(job: TableTransferJob) -> Any:
    try:
        return job.run()
    finally:
        job.context.connections.close_all()


def test_a_run_overtaken_while_loading_publishes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    ledger = FakeLedger()
    for mode in (WriteMode.TRUNCATE, WriteMode.DELTA):
        base = 10 * (mode is WriteMode.DELTA)  # tokens only grow
        seed = run(UnitOrdersJob(context(url, ledger, f"seed-{mode}", base + 1, 0, mode)))
        assert seed.outcome.succeeded
        ledger.end(f"seed-{mode}", succeeded=True)
        before = table(url)
        old = OvertakenJob(context(url, ledger, f"old-{mode}", base + 2, 1, mode))
        new = UnitOrdersJob(context(url, ledger, f"new-{mode}", base + 3, 2, mode))
        old.newer = new
        result = run(old)
        assert not result.outcome.succeeded
        error = result.outcome.error
        assert isinstance(error, FencedOutError), error
        assert result.outcome.failed_step == Step.PIPELINE
        assert error.exit_code == ExitCode.LEASE_HELD
        assert error.taken_over_by == f"new-{mode}"
        assert table(url) == before, "the overtaken run changed the target"
        assert staging(url) == []  # its own staging is dropped
        ledger.end(f"old-{mode}")
        # the newer run (its cleansing already ran, inside the old run) goes on
        new.pipeline()
        new.post_execution_cleanup(Outcome(RunStatus.SUCCEEDED))
        new.context.connections.close_all()
        assert {row[2] for row in table(url) if row[2] != 0} == {2}
        # a late run with the old token stops in cleansing, before loading anything
        late = run(UnitOrdersJob(context(url, ledger, f"late-{mode}", base + 2, 9, mode)))
        assert isinstance(late.outcome.error, FencedOutError)
        assert late.outcome.failed_step == Step.PRE_EXECUTION_CLEANSING
        assert {row[2] for row in table(url) if row[2] != 0} == {2}
