"""A user table named like staging survives every cleanup path of real runs (SQLite;
the PostgreSQL variant is in tests/integration/postgres/test_owned_staging.py)."""

from __future__ import annotations

from pathlib import Path

from tests.support.crash_points import check_lookalike_survives_every_cleanup


def test_sqlite_user_table_named_like_staging_survives(tmp_path: Path) -> None:
    check_lookalike_survives_every_cleanup(f"sqlite:///{tmp_path / 'warehouse.db'}", tmp_path)
