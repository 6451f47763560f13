"""Every kill point of every write strategy on PostgreSQL (see crash_points.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_framework.state import RunStore
from tests.support.crash_jobs import CRASH_POINTS
from tests.support.crash_points import VARIANTS, check_crash_point


@pytest.mark.parametrize("point", CRASH_POINTS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_postgres_run_killed_at_any_point(
    postgres_url: str, tmp_path: Path, variant: str, point: str
) -> None:
    check_crash_point(postgres_url, tmp_path, variant, point)


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_run_killed_with_a_postgres_ledger_is_taken_over_at_once(
    postgres_url: str, tmp_path: Path, point: str
) -> None:
    """The ledger on PostgreSQL (the warehouse a SQLite file): the killed run's session
    advisory lock died with its connection, so the immediate rerun takes over."""
    store = RunStore(postgres_url)
    try:
        store.upgrade()  # PostgreSQL ledgers are migrated by an admin (etlctl db upgrade)
    finally:
        store.close()
    check_crash_point(
        f"sqlite:///{tmp_path / 'warehouse.db'}",
        tmp_path,
        "delta-window-staging",
        point,
        ledger=postgres_url,
    )
