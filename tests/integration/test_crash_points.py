"""Every kill point of every write strategy on SQLite (see crash_points.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.crash_jobs import CRASH_POINTS
from tests.support.crash_points import VARIANTS, check_crash_point


@pytest.mark.parametrize("point", CRASH_POINTS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_sqlite_run_killed_at_any_point(tmp_path: Path, variant: str, point: str) -> None:
    check_crash_point(f"sqlite:///{tmp_path / 'warehouse.db'}", tmp_path, variant, point)
