"""``WriteStrategy.describe`` (what ``pipeline --plan`` lists) is exactly what a run executes,
on PostgreSQL: COPY, ``::DATE`` bound casts, UNLOGGED staging (see
`tests.support.describe_cases`)."""

from __future__ import annotations

import pytest

from tests.support import describe_cases


@pytest.mark.parametrize("case", sorted(describe_cases.CASES))
def test_planned_statements_are_the_executed_ones(postgres_url: str, case: str) -> None:
    plan = describe_cases.check_case(postgres_url, case)
    if "direct" not in case and "first_load" not in case:
        assert any(p.sql.startswith('COPY "_stg_orders_') for p in plan)


def test_added_columns_are_planned_as_executed(postgres_url: str) -> None:
    describe_cases.check_added_columns(postgres_url)
