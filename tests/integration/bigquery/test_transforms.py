"""BigQueryTransformJob on the emulator (or a real project): a view and a table over a
source table, with the where clause's dialect literals and params."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from etl_framework import register
from etl_framework.exceptions import ExitCode, UpstreamNotReadyError
from etl_framework.mapping import FieldMapping
from etl_framework.runner import run_transfer
from etl_framework.transfers.bigquery import BigQueryTransferJob, BigQueryTransferOptions
from etl_framework.transforms import BigQueryTransformJob
from tests.support.bigquery import BigQueryTarget, unique
from tests.support.transform_jobs import ORDERS, expected_month, order


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


# --- a dependent view, its fence and its source check (issue 14) -------------------------


class BqOrdersOptions(BigQueryTransferOptions):
    version: int = 0


@register("bq_tf_orders")
class BqOrders(BigQueryTransferJob[BqOrdersOptions]):
    """Upstream: the orders of tests.support.transform_jobs, one a day."""

    mapping = FieldMapping.from_tuples(
        [
            ("id", "id", "bigint primary key"),
            ("day", "day", "date not null"),
            ("status", "status", "varchar(16) not null"),
            ("amount", "amount", "bigint not null"),
        ]
    )
    window_column = "day"

    def source(self) -> Iterator[dict[str, Any]]:
        window = self.context.window
        for i in range(ORDERS):
            record = order(i, self.options.version)
            if window.contains(dt.date.fromisoformat(record["day"])):
                yield record


@register("bq_tf_completed")
class BqCompleted(BigQueryTransformJob):
    """View over the upstream's table: the month's completed orders."""

    upstream = "bq_tf_orders"
    fields = [("id", "id"), ("amount", "amount")]
    where_clause = """status = 'completed'
        AND day >= {{ month_start(ds) }} AND day < {{ next_month_start(ds) }}"""


@register("bq_tf_missing_column")
class BqMissingColumn(BqCompleted):
    fields = [("id", "id"), ("discount", "discount")]


def dependent_config(
    tmp_path: Path, target: BigQueryTarget, tables: dict[str, str], version: int = 0
) -> str:
    return config(
        tmp_path,
        target,
        {
            "bq_tf_orders": {"table": tables["orders"], "version": version},
            "bq_tf_completed": {"table": tables["view"]},
            "bq_tf_missing_column": {"table": tables["broken"]},
        },
    )


def test_a_dependent_view_survives_the_upstreams_truncate_and_delta_runs(
    tmp_path: Path, bq: Any, bq_target: BigQueryTarget
) -> None:
    tables = {name: bq_target.table(unique(name)) for name in ("orders", "view", "broken")}
    path = dependent_config(tmp_path, bq_target, tables)

    def view_rows() -> list[tuple[int, int]]:
        got = bq.query(f"SELECT id, amount FROM {bq.table_ref(tables['view']).sql} ORDER BY id")
        return [(row["id"], row["amount"]) for row in got]

    def run(name: str, day: str, mode: str = "truncate", **kw: Any) -> Any:
        summary = run_transfer(name, day, mode, path, **kw)
        assert summary.succeeded, summary.error
        return summary

    with pytest.raises(UpstreamNotReadyError):
        run_transfer("bq_tf_completed", "20240215", "truncate", path)
    run("bq_tf_orders", "20240415")
    run("bq_tf_completed", "20240215")
    assert view_rows() == expected_month(2)
    path = dependent_config(tmp_path, bq_target, tables, version=1)
    run("bq_tf_orders", "20240415")  # truncate: the view reads the new rows
    assert view_rows() == expected_month(2, version=1)
    path = dependent_config(tmp_path, bq_target, tables, version=2)
    run("bq_tf_orders", "20240229", "delta", delta_start_date="20240201")
    assert view_rows() == expected_month(2, version=2)


def test_a_view_run_that_lost_its_target_replaces_nothing(
    tmp_path: Path, bq: Any, bq_target: BigQueryTarget
) -> None:
    from etl_framework.load.bigquery.fence import BigQueryFence
    from etl_framework.window import Window
    from tests.support.ledger import FakeLedger

    tables = {name: bq_target.table(unique(name)) for name in ("orders", "view", "broken")}
    path = dependent_config(tmp_path, bq_target, tables)
    assert run_transfer("bq_tf_orders", "20240415", "truncate", path).succeeded
    first = run_transfer("bq_tf_completed", "20240215", "truncate", path)
    assert first.succeeded, first.error
    view = bq.table_ref(tables["view"])
    fence_table = view.sibling("_etl_fence")
    published = bq.query(
        f"SELECT run_id, published_at IS NOT NULL AS done FROM {fence_table.sql} WHERE target = @t",
        {"t": view.table},
    )
    assert [(row["run_id"], row["done"]) for row in published] == [(first.run_id, True)]
    newer = BigQueryFence(bq, view, Window.unbounded(), token=2**62, run_id="ffffffff-new")
    newer.claim(FakeLedger().handle("ffffffff-new"))  # type: ignore[arg-type]
    summary = run_transfer("bq_tf_completed", "20240310", "truncate", path)
    assert summary.exit_code == ExitCode.LEASE_HELD, summary.error
    assert "ffffffff-new" in (summary.error or "")
    got = bq.query(f"SELECT id, amount FROM {view.sql} ORDER BY id")
    assert [(row["id"], row["amount"]) for row in got] == expected_month(2)


def test_a_missing_table_or_column_exits_3_and_touches_nothing(
    tmp_path: Path, bq: Any, bq_target: BigQueryTarget
) -> None:
    tables = {name: bq_target.table(unique(name)) for name in ("orders", "view", "broken")}
    path = dependent_config(tmp_path, bq_target, tables)
    summary = run_transfer(
        "bq_tf_completed", "20240215", "truncate", path, ignore_dependencies=True
    )
    assert summary.exit_code == ExitCode.CONFIG
    assert summary.error == (
        f"transform 'bq_tf_completed': source table {tables['orders']} does not exist in "
        "connection 'bigquery'; nothing was touched"
    )
    assert run_transfer("bq_tf_orders", "20240415", "truncate", path).succeeded
    summary = run_transfer("bq_tf_missing_column", "20240415", "truncate", path)
    assert summary.exit_code == ExitCode.CONFIG, summary.error
    assert (summary.error or "").startswith(
        f"transform 'bq_tf_missing_column': its SELECT does not run on {tables['orders']}: "
    )
    assert "discount" in (summary.error or "") and "\n" not in (summary.error or "")
    for name in ("view", "broken"):
        assert bq.get_table(bq.table_ref(tables[name])) is None
