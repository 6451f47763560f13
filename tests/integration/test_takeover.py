"""A run stalled past its lease TTL never publishes, on a SQLite warehouse, with the
ledger in another SQLite file, in the warehouse's own file, or on PostgreSQL (see
takeover.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.takeover import check_stalled_run_never_publishes, migrated


@pytest.fixture(
    params=["sqlite", "same-file", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    if request.param == "same-file":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    return migrated(request.getfixturevalue("postgres_url"))


@pytest.mark.parametrize("pause_at", ["mid_load", "before_publish"])
def test_sqlite_warehouse_a_stalled_run_never_publishes(
    tmp_path: Path, ledger: str, pause_at: str
) -> None:
    warehouse = f"sqlite:///{tmp_path / 'warehouse.db'}"
    check_stalled_run_never_publishes(tmp_path, warehouse, ledger, pause_at)


def test_a_stalled_run_that_still_reaches_the_ledger_never_publishes(tmp_path: Path) -> None:
    """Its heartbeat finds the lease lost as it resumes, racing its own publish: either
    way it stops with exit 4 and publishes nothing."""
    warehouse = f"sqlite:///{tmp_path / 'warehouse.db'}"
    ledger = f"sqlite:///{tmp_path / 'state.db'}"
    check_stalled_run_never_publishes(tmp_path, warehouse, ledger, "before_publish", blind=False)
