"""SqlTransformJob on SQLite through the real runner: the source check before anything
is touched (exit 3), the view through the warehouse fence, ALL_COLUMNS tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from etl_framework.exceptions import ExitCode
from etl_framework.load.sql.fence import FENCE_TABLE, SqlFence
from etl_framework.runner import run_transfer
from etl_framework.testing import TransferHarness
from etl_framework.window import Window
from tests.support.ledger import FakeLedger
from tests.support.transform_check_jobs import TfAllColumnsTable
from tests.support.transform_jobs import FIRST_DAY, ORDERS, expected_month


def harness(tmp_path: Path, **orders: Any) -> TransferHarness:
    return TransferHarness(
        tmp_path,
        transfers={
            "tf_orders": dict(orders),
            "tf_completed_view": {"params": {"status": "completed"}},
        },
    )


def run(h: TransferHarness, name: str, day: str, mode: str = "truncate", **kw: Any) -> Any:
    return run_transfer(name, day, mode, str(h.config_path), **kw)


def objects(h: TransferHarness, name: str) -> list[tuple[Any, ...]]:
    return h.query(f"SELECT type, name FROM sqlite_master WHERE name = '{name}'")


def fence_targets(h: TransferHarness) -> set[str]:
    return {r[0] for r in h.query(f"SELECT target FROM {FENCE_TABLE}")}


# --- the source check: one line, exit 3, nothing touched ----------------------------


def test_a_view_over_a_missing_table_exits_3_and_creates_nothing(tmp_path: Path) -> None:
    h = harness(tmp_path)
    summary = run(h, "tf_completed_view", "20240215", ignore_dependencies=True)
    assert summary.exit_code == ExitCode.CONFIG
    assert summary.error == (
        "transform 'tf_completed_view': source table tf_orders does not exist in connection "
        "'warehouse'; nothing was touched"
    )
    assert objects(h, "tf_completed") == []
    assert objects(h, FENCE_TABLE) == []  # not even the fence was claimed


def test_a_missing_column_exits_3_naming_it_and_touches_nothing(tmp_path: Path) -> None:
    h = harness(tmp_path)
    assert run(h, "tf_orders", "20240415").succeeded
    summary = run(h, "tf_missing_column_view", "20240415")
    assert summary.exit_code == ExitCode.CONFIG
    assert summary.error == (
        "transform 'tf_missing_column_view': its SELECT does not run on tf_orders: "
        "no such column: discount; nothing was touched"
    )
    assert "\n" not in summary.error
    # a column only the where clause names, in a table transform
    summary = run(h, "tf_missing_column_table", "20240415")
    assert summary.exit_code == ExitCode.CONFIG
    assert "no such column: region" in (summary.error or "")
    assert objects(h, "tf_broken") == [] and objects(h, "tf_broken_table") == []
    assert fence_targets(h) == {"tf_orders"}
    assert not h.query("SELECT name FROM sqlite_master WHERE name LIKE '_stg_%'")


# --- the view takes the warehouse fence -----------------------------------------------


def test_a_view_run_is_fenced_and_a_run_that_lost_its_target_replaces_nothing(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path)
    assert run(h, "tf_orders", "20240415").succeeded
    summary = run(h, "tf_completed_view", "20240215")
    assert summary.succeeded, summary.error
    (published,) = h.query(
        f"SELECT window_key, run_id, published_at IS NOT NULL FROM {FENCE_TABLE} "
        "WHERE target = 'tf_completed'"
    )
    assert published == ("all", summary.run_id, 1)
    # a newer run (a larger fencing token) claims the view meanwhile
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    try:
        newer = SqlFence("tf_completed", Window.unbounded(), token=2**62, run_id="ffffffff-new")
        newer.claim(engine, FakeLedger().handle("ffffffff-new"))  # type: ignore[arg-type]
    finally:
        engine.dispose()
    summary = run(h, "tf_completed_view", "20240310")
    assert summary.exit_code == ExitCode.LEASE_HELD
    assert "ffffffff-new" in (summary.error or "")
    assert h.query("SELECT id, amount FROM tf_completed ORDER BY id") == expected_month(2)


# --- ALL_COLUMNS with materialized = "table" -------------------------------------------


def test_an_all_columns_table_copies_the_upstream_columns(tmp_path: Path) -> None:
    assert getattr(TfAllColumnsTable, "mapping", None) is None  # reflected at run time
    h = harness(tmp_path)
    assert run(h, "tf_orders", "20240415").succeeded
    for _ in range(2):
        summary = run(h, "tf_all_columns_table", "20240415")
        assert summary.succeeded, summary.error
        assert h.query("SELECT COUNT(*), MIN(status), MAX(status) FROM tf_all_completed") == [
            (ORDERS // 2, "completed", "completed")
        ]
    columns = h.query(
        "SELECT name, type, \"notnull\", pk FROM pragma_table_info('tf_all_completed')"
    )
    assert [(n, t.lower(), nn, pk) for n, t, nn, pk in columns] == [
        ("id", "bigint", 1, 1),
        ("day", "date", 1, 0),
        ("status", "varchar(16)", 1, 0),
        ("amount", "integer", 1, 0),
    ]
    h = harness(tmp_path, version=5)
    assert run(h, "tf_orders", "20240110", "delta", delta_start_date="20240101").succeeded
    summary = run(h, "tf_all_columns_table", "20240110", "delta", delta_start_date="20240101")
    assert summary.succeeded, summary.error
    assert h.query("SELECT id, day, amount FROM tf_all_completed WHERE id <= 10 ORDER BY id") == [
        (i, (FIRST_DAY.replace(day=1 + i)).isoformat(), i * 10 + (5 if i < 10 else 0))
        for i in range(0, 11, 2)
    ]
    assert h.query("SELECT COUNT(*) FROM tf_all_completed") == [(ORDERS // 2,)]


def test_an_all_columns_table_needs_its_window_column_upstream(tmp_path: Path) -> None:
    from etl_framework import register

    @register("tf_all_columns_bad_window")
    class BadWindow(TfAllColumnsTable):
        window_column = "shipped_on"

    h = harness(tmp_path)
    assert run(h, "tf_orders", "20240415").succeeded
    summary = run(h, "tf_all_columns_bad_window", "20240415", "delta")
    assert summary.exit_code == ExitCode.CONFIG
    assert "window_column 'shipped_on' is not a column of tf_orders" in (summary.error or "")
    assert objects(h, "tf_all_completed") == []
