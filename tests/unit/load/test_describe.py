"""``WriteStrategy.describe`` (what ``pipeline --plan`` lists) is exactly what a run executes,
on SQLite (PostgreSQL: tests/integration/postgres/test_describe.py); see
`tests.support.describe_cases`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import describe_cases


@pytest.mark.parametrize("case", sorted(describe_cases.CASES))
def test_planned_statements_are_the_executed_ones(tmp_path: Path, case: str) -> None:
    describe_cases.check_case(f"sqlite:///{tmp_path / 'warehouse.db'}", case)


def test_added_columns_are_planned_as_executed(tmp_path: Path) -> None:
    describe_cases.check_added_columns(f"sqlite:///{tmp_path / 'warehouse.db'}")
