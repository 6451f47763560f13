"""A user table named like staging survives every cleanup path of real runs (PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from tests.support.crash_points import check_lookalike_survives_every_cleanup


def test_postgres_user_table_named_like_staging_survives(postgres_url: str, tmp_path: Path) -> None:
    check_lookalike_survives_every_cleanup(postgres_url, tmp_path)
