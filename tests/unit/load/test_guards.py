"""One GuardConfig, one set of defaults, for SQL and BigQuery strategies (issue 12)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from etl_framework.load.bigquery.merge import BigQueryMergeStrategy
from etl_framework.load.bigquery.replace_table import BigQueryReplaceTableStrategy
from etl_framework.load.bigquery.replace_window import BigQueryReplaceWindowStrategy
from etl_framework.load.guards import GuardConfig, GuardLimits
from etl_framework.load.sql.merge import MergeStrategy
from etl_framework.load.sql.replace_table import ReplaceTableStrategy
from etl_framework.load.sql.replace_window import ReplaceWindowStrategy
from etl_framework.mapping import FieldMapping
from etl_framework.transfers import BigQueryTransferOptions, TableTransferOptions
from etl_framework.window import Window

_MAPPING = FieldMapping.from_tuples(
    [("id", "id", "bigint primary key"), ("day", "day", "date not null"), ("name", "name", "text")]
)


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


@pytest.mark.parametrize(
    "guards", [None, GuardConfig(), GuardConfig(min_rows=7), GuardConfig(min_fraction=0.25)]
)
@pytest.mark.parametrize(
    ("sql", "bigquery", "extra"),
    [
        (ReplaceTableStrategy, BigQueryReplaceTableStrategy, {}),
        (
            ReplaceWindowStrategy,
            BigQueryReplaceWindowStrategy,
            {"window": Window(dt.date(2024, 1, 1), dt.date(2024, 1, 2)), "window_column": "day"},
        ),
        (MergeStrategy, BigQueryMergeStrategy, {}),
    ],
)
def test_sql_and_bigquery_strategies_read_limits_from_the_one_guard_config(
    tmp_path: Path, guards: GuardConfig | None, sql: Any, bigquery: Any, extra: dict[str, Any]
) -> None:
    pytest.importorskip("google.cloud.bigquery")
    from etl_framework.connectors.bigquery import BigQueryConfig, BigQueryConnector
    from etl_framework.connectors.sql import SqlConfig, SqlConnector

    common: dict[str, Any] = {"run_id": "run-1234", "guards": guards, **extra}
    bq_config = BigQueryConfig(
        project="acme", dataset="analytics", api_endpoint="http://127.0.0.1:9"
    )  # type: ignore[call-arg]
    with (
        SqlConnector("warehouse", SqlConfig(url=f"sqlite:///{tmp_path / 'w.db'}")) as warehouse,  # type: ignore[arg-type]
        BigQueryConnector("bq", bq_config) as bq,
    ):
        on_sql = sql(warehouse, "events", _MAPPING, **common)
        on_bigquery = bigquery(bq, "events", _MAPPING, **common)
    expected = (guards or GuardConfig()).limits(full_refresh=sql.full_refresh)
    assert on_sql.guard_limits == on_bigquery.guard_limits == expected
    assert type(on_sql.guards) is type(on_bigquery.guards) is GuardConfig
