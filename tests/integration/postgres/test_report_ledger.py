"""``etlctl report`` and ``backfill --only-missing`` on a PostgreSQL ledger, read-only."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl_framework.backfill import missing_days, windows
from etl_framework.report import read_history, write_report
from etl_framework.report.ledger import readonly_engine
from etl_framework.state import RunStore
from tests.support.report_ledger import HOSTILE_ERROR, add_run

DAY = dt.date(2024, 2, 10)


def test_report_and_only_missing_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    store = RunStore(postgres_url)
    try:
        store.upgrade()
        add_run(store, "orders", DAY)
        add_run(store, "orders", DAY + dt.timedelta(days=2))
        add_run(store, "orders", DAY + dt.timedelta(days=3), status="failed", error=HOSTILE_ERROR)
    finally:
        store.close()
    history = read_history(postgres_url)
    [orders] = history.transfers
    assert orders.days[DAY] == "succeeded" and DAY + dt.timedelta(days=1) not in orders.days
    assert orders.days[DAY + dt.timedelta(days=3)] == "failed"
    assert history.location.startswith("postgresql") and len(history.steps) == 3
    page = write_report(history, tmp_path / "out").read_text()
    assert "<script>alert" not in page and "alert(&#x27;x&#x27;)" in page
    days = windows(DAY, DAY + dt.timedelta(days=3))
    assert missing_days(postgres_url, "orders", days) == [days[1], days[3]]


def test_the_report_engine_cannot_write(postgres_url: str) -> None:
    store = RunStore(postgres_url)
    store.upgrade()
    store.close()
    engine = readonly_engine(postgres_url)
    try:
        with engine.connect() as conn, pytest.raises(sa.exc.InternalError, match="read-only"):
            conn.execute(sa.text("DELETE FROM etl_runs"))
    finally:
        engine.dispose()
