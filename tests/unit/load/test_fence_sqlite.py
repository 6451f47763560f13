"""The warehouse fence and staging ownership on SQLite (the same scenarios run on
PostgreSQL in tests/integration/postgres/test_fence.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.load import fence_cases

SCENARIOS = [getattr(fence_cases, name) for name in dir(fence_cases) if name.startswith("check_")]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.removeprefix("check_"))
def test_fence_on_sqlite(tmp_path: Path, scenario: Callable[[str], None]) -> None:
    scenario(f"sqlite:///{tmp_path / 'warehouse.db'}")
