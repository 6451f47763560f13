"""The warehouse fence of view transforms on SQLite (the same scenarios run on
PostgreSQL in tests/integration/postgres/test_view_fence.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import view_fence_cases

SCENARIOS = [
    getattr(view_fence_cases, name) for name in dir(view_fence_cases) if name.startswith("check_")
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.removeprefix("check_"))
def test_view_fence_on_sqlite(tmp_path: Path, scenario: Callable[[str], None]) -> None:
    scenario(f"sqlite:///{tmp_path / 'warehouse.db'}")
