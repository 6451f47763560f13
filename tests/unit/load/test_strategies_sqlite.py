"""Every write strategy on SQLite (the same scenarios run on PostgreSQL in integration)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import strategy_cases

SCENARIOS = [
    getattr(strategy_cases, name) for name in dir(strategy_cases) if name.startswith("check_")
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.removeprefix("check_"))
def test_strategy_on_sqlite(tmp_path: Path, scenario: Callable[[str], None]) -> None:
    scenario(f"sqlite:///{tmp_path / 'warehouse.db'}")
