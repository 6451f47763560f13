"""Every kill point of every write strategy on PostgreSQL (see crash_points.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.crash_jobs import CRASH_POINTS
from tests.integration.crash_points import VARIANTS, check_crash_point


@pytest.mark.parametrize("point", CRASH_POINTS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_postgres_run_killed_at_any_point(
    postgres_url: str, tmp_path: Path, variant: str, point: str
) -> None:
    check_crash_point(postgres_url, tmp_path, variant, point)
