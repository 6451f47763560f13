"""Ledger checks shared by the SQLite (unit) and PostgreSQL (integration) tests."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from etl_framework.job import StepRecord
from etl_framework.state import RunStore
from etl_framework.window import Window, WriteMode

DAY = dt.date(2024, 1, 15)


def check_models_match_migrations(url: str) -> None:
    """The head migration creates exactly the tables, columns and indexes of the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from etl_framework.state.models import Base

    store = RunStore(url)
    try:
        store.upgrade()
        with store.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"version_table": "etl_alembic_version"}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        store.close()


def check_upgrade_from_0001_keeps_history_and_records_step_rows(url: str) -> None:
    store = RunStore(url)
    try:
        store.upgrade("0001")
        with store.engine.begin() as conn:  # a run recorded by a 0001 ledger
            conn.execute(
                sa.text(
                    "INSERT INTO etl_runs (run_id, transfer, execution_date, mode, status,"
                    " started_at, rows_read, rows_written)"
                    " VALUES ('old', 't', :day, 'truncate', 'succeeded', :now, 7, 7)"
                ),
                {"day": DAY, "now": dt.datetime(2024, 1, 16, tzinfo=dt.UTC)},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO etl_run_steps (run_id, step, seconds)"
                    " VALUES ('old', 'pipeline', 1.5)"
                )
            )
        assert not store.schema_is_current()

        store.upgrade()
        assert store.schema_is_current()
        (old,) = store.steps("old")
        assert (old.step, old.seconds, old.status, old.rows_read) == ("pipeline", 1.5, None, None)
        assert store.get_run("old") is not None

        store.start_run(
            run_id="new",
            transfer="t",
            execution_date=DAY,
            mode=WriteMode.TRUNCATE,
            window=Window.unbounded(),
            exclusive=True,
        )
        store.finish_run(
            "new",
            status="failed",
            rows_read=12,
            rows_written=0,
            steps={
                "pre_execution_cleansing": StepRecord(0.1, 0, 0, succeeded=True),
                "pipeline": StepRecord(2.0, 12, 0, succeeded=False),
                "post_execution_cleanup": StepRecord(0.2, 0, 0, succeeded=True),
            },
        )
        assert [(s.step, s.status, s.rows_read, s.rows_written) for s in store.steps("new")] == [
            ("pre_execution_cleansing", "succeeded", 0, 0),
            ("pipeline", "failed", 12, 0),
            ("post_execution_cleanup", "succeeded", 0, 0),
        ]
    finally:
        store.close()
