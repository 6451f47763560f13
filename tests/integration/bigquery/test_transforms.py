"""BigQueryTransformJob on the emulator (or a real project): a view and a table over a
source table, with the where clause's dialect literals and params."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from etl_framework import register
from etl_framework.runner import run_transfer
from etl_framework.transforms import BigQueryTransformJob
from tests.support.bigquery import BigQueryTarget, unique


@register("bq_tf_view")
class BqView(BigQueryTransformJob):
    """View: the month's rows of one status."""

    fields = [("id", "id"), ("amount", "Amount x")]
    where_clause = """status = {{ params.status }}
        AND day >= {{ month_start(ds) }} AND day <= {{ month_end(ds) }}"""


@register("bq_tf_table")
class BqTable(BqView):
    materialized = "table"
    fields = [("id", "id", "bigint not null"), ("amount * 2", "double_amount", "bigint")]


def setup_source(bq: Any, target: BigQueryTarget) -> str:
    source = target.table(unique("orders"))
    ref = bq.table_ref(source)
    bq.ensure_dataset(ref.project, ref.dataset)
    bq.execute(f"CREATE TABLE {ref.sql} (id INT64, day DATE, status STRING, amount INT64)")
    values = ", ".join(
        f"({i}, DATE '2024-0{1 + i % 3}-{1 + i % 28:02d}', "
        f"'{'completed' if i % 2 == 0 else 'open'}', {i * 10})"
        for i in range(30)
    )
    bq.execute(f"INSERT INTO {ref.sql} (id, day, status, amount) VALUES {values}")
    return source


def expected(status: str = "completed") -> list[int]:
    wanted = 0 if status == "completed" else 1
    return sorted(i for i in range(30) if i % 3 == 1 and i % 2 == wanted)


def config(tmp_path: Path, target: BigQueryTarget, transfers: dict[str, Any]) -> str:
    path = tmp_path / f"config-{len(list(tmp_path.glob('config-*')))}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
                "logging": {"format": "text", "progress": False},
                "connections": {"bigquery": target.connection},
                "transfers": transfers,
            }
        )
    )
    return str(path)


def test_view_and_table_transforms(tmp_path: Path, bq: Any, bq_target: BigQueryTarget) -> None:
    source = setup_source(bq, bq_target)
    view, table = bq_target.table(unique("completed")), bq_target.table(unique("doubled"))
    for status in ("completed", "open' OR 'x'='x"):
        path = config(
            tmp_path,
            bq_target,
            {
                "bq_tf_view": {"table": view, "source_table": source, "params": {"status": status}},
                "bq_tf_table": {
                    "table": table,
                    "source_table": source,
                    "params": {"status": "completed"},
                    "guards": {"min_rows": 0},
                },
            },
        )
        for _ in range(2):  # twice: the same result
            summary = run_transfer("bq_tf_view", "20240215", "truncate", path)
            assert summary.succeeded, summary.error
            got = bq.query(f"SELECT id, `Amount x` FROM {bq.table_ref(view).sql} ORDER BY id")
            ids = [row["id"] for row in got]
            assert ids == (expected() if status == "completed" else [])
    for _ in range(2):
        summary = run_transfer("bq_tf_table", "20240215", "truncate", path)
        assert summary.succeeded, summary.error
        got = bq.query(f"SELECT id, double_amount FROM {bq.table_ref(table).sql} ORDER BY id")
        assert [(row["id"], row["double_amount"]) for row in got] == [
            (i, i * 20) for i in expected()
        ]
