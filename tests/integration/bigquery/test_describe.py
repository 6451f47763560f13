"""``describe`` of the BigQuery strategies (what ``pipeline --plan`` lists) is what a run
sends: every query (guards, publish transaction / MERGE) with its parameters, in order.

The strategy runs for real on the emulator (or a real project); the connector's query
calls are recorded on the way through, not replaced.
"""

from __future__ import annotations

from typing import Any

import pytest

from etl_framework.load.bigquery import (
    BigQueryMergeStrategy,
    BigQueryReplaceTableStrategy,
    BigQueryReplaceWindowStrategy,
)
from etl_framework.load.guards import GuardConfig
from etl_framework.window import Window
from tests.support.bigquery import DAY1, DAY2, DAY3, MAPPING, BigQueryTarget, record, rows, unique


def _build(kind: str, bq: Any, table: str, run_id: str) -> Any:
    common: dict[str, Any] = {"run_id": run_id, "guards": GuardConfig(min_fraction=0.1)}
    if kind == "replace_table":
        return BigQueryReplaceTableStrategy(bq, table, MAPPING, **common)
    if kind == "merge":
        return BigQueryMergeStrategy(bq, table, MAPPING, **common)
    return BigQueryReplaceWindowStrategy(
        bq, table, MAPPING, window=Window(DAY2, DAY3), window_column="event_date", **common
    )


def _write(strategy: Any, records: list[dict[str, Any]]) -> None:
    try:
        strategy.write(rows(records))
    finally:
        strategy.drop_staging()


@pytest.mark.parametrize("kind", ["replace_table", "replace_window", "merge"])
def test_described_queries_are_the_ones_sent(
    bq: Any, bq_target: BigQueryTarget, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = bq_target.table(unique("events"))
    seed = _build("replace_table", bq, table, "seed0001")
    _write(seed, [record(i, day) for i, day in enumerate([DAY1, DAY2, DAY3], start=1)])

    strategy = _build(kind, bq, table, "plan0001")
    planned = [(p.sql, p.params) for p in strategy.describe() if p.sql]
    sent: list[tuple[str, dict[str, Any]]] = []
    original = bq._run_query

    def recording(sql: str, params: Any, *args: Any) -> Any:
        sent.append((sql, dict(params or {})))
        return original(sql, params, *args)

    monkeypatch.setattr(bq, "_run_query", recording)
    _write(strategy, [record(i, DAY2) for i in range(10, 14)])
    assert planned == sent
    assert planned[-1][0] == strategy.publish_statement()
    if kind == "replace_window":
        assert planned[-1][1] == {"window_start": DAY2, "window_end": DAY3}
        assert "DELETE FROM" in planned[-1][0] and "@window_start" in planned[-1][0]
