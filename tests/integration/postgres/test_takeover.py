"""A run stalled past its lease TTL never publishes, on a PostgreSQL warehouse, with
the ledger in the same database or in a SQLite file (see takeover.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.takeover import check_stalled_run_never_publishes, migrated


@pytest.mark.parametrize("pause_at", ["mid_load", "before_publish"])
@pytest.mark.parametrize("ledger", ["same-database", "sqlite"])
def test_postgres_warehouse_a_stalled_run_never_publishes(
    postgres_url: str, tmp_path: Path, ledger: str, pause_at: str
) -> None:
    state = (
        migrated(postgres_url)
        if ledger == "same-database"
        else f"sqlite:///{tmp_path / 'state.db'}"
    )
    check_stalled_run_never_publishes(tmp_path, postgres_url, state, pause_at)
