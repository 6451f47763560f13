"""One GuardConfig, one set of defaults, for SQL and BigQuery strategies (issue 12)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from etl_framework.load.bq.strategies import (
    BigQueryMergeStrategy,
    BigQueryReplaceTableStrategy,
    BigQueryReplaceWindowStrategy,
)
from etl_framework.load.guards import GuardConfig, GuardLimits
from etl_framework.load.merge import MergeStrategy
from etl_framework.load.replace_table import ReplaceTableStrategy
from etl_framework.load.replace_window import ReplaceWindowStrategy
from etl_framework.transfers import BigQueryTransferOptions, TableTransferOptions


def test_defaults_of_a_full_refresh_and_of_the_rest() -> None:
    assert GuardConfig().limits(full_refresh=True) == GuardLimits(min_rows=1, min_fraction=0.5)
    assert GuardConfig().limits(full_refresh=False) == GuardLimits(min_rows=0, min_fraction=0)
    overridden = GuardConfig(min_rows=0, min_fraction=0)
    assert overridden.limits(full_refresh=True) == GuardLimits(min_rows=0, min_fraction=0)
    assert GuardConfig(min_fraction=0.9).limits(full_refresh=False).min_fraction == 0.9


@pytest.mark.parametrize(
    ("sql", "bigquery", "full_refresh"),
    [
        (ReplaceTableStrategy, BigQueryReplaceTableStrategy, True),
        (ReplaceWindowStrategy, BigQueryReplaceWindowStrategy, False),
        (MergeStrategy, BigQueryMergeStrategy, False),
    ],
)
def test_sql_and_bigquery_strategies_take_the_same_defaults(
    sql: Any, bigquery: Any, full_refresh: bool
) -> None:
    assert sql.full_refresh is bigquery.full_refresh is full_refresh


def test_both_transfer_option_models_use_the_one_guard_config() -> None:
    guards = {"min_rows": 5, "min_fraction": 0.2, "all_null_allowed": ["note"]}
    assert (
        TableTransferOptions(guards=guards).guards
        == BigQueryTransferOptions(  # type: ignore[arg-type]
            guards=guards  # type: ignore[arg-type]
        ).guards
    )
    assert BigQueryTransferOptions().guards == GuardConfig()


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_min_fraction_is_a_fraction(value: float) -> None:
    with pytest.raises(ValidationError, match="min_fraction"):
        GuardConfig(min_fraction=value)


def test_bigquery_top_level_min_rows_points_to_guards() -> None:
    with pytest.raises(ValidationError, match="min_rows moved under guards"):
        BigQueryTransferOptions.model_validate({"min_rows": 1})
