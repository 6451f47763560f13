"""SqlTransformJob on a real PostgreSQL: views, derived tables, injection, dependents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from etl_framework import register
from etl_framework.exceptions import UpstreamNotReadyError
from etl_framework.runner import run_transfer
from tests.support import transform_check_jobs  # noqa: F401 - registers its transforms
from tests.support.transform_jobs import TfCompletedView, expected_month


def config(tmp_path: Path, postgres_url: str, status: str = "completed", **orders: Any) -> str:
    path = tmp_path / f"config-{len(list(tmp_path.glob('config-*')))}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
                "logging": {"format": "text", "progress": False},
                "connections": {"warehouse": {"type": "sql", "url": postgres_url}},
                "transfers": {
                    "tf_orders": orders,
                    "tf_completed_view": {"params": {"status": status}},
                },
            }
        )
    )
    return str(path)


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()


def run(path: str, name: str, day: str, mode: str = "truncate", **kw: Any) -> Any:
    summary = run_transfer(name, day, mode, path, **kw)
    assert summary.succeeded, summary.error
    return summary


def test_view_of_the_month_idempotent_and_surviving_upstream_runs(
    tmp_path: Path, postgres_url: str
) -> None:
    path = config(tmp_path, postgres_url)
    with pytest.raises(UpstreamNotReadyError):
        run_transfer("tf_completed_view", "20240215", "truncate", path)
    run(path, "tf_orders", "20240415")
    for _ in range(2):
        run(path, "tf_completed_view", "20240215")
        assert query(postgres_url, "SELECT id, amount FROM tf_completed ORDER BY id") == (
            expected_month(2)
        )
    assert query(
        postgres_url,
        "SELECT table_type FROM information_schema.tables WHERE table_name = 'tf_completed'",
    ) == [("VIEW",)]
    run(config(tmp_path, postgres_url, version=1), "tf_orders", "20240415")
    assert query(postgres_url, "SELECT id, amount FROM tf_completed ORDER BY id") == (
        expected_month(2, version=1)
    )
    path = config(tmp_path, postgres_url, version=2)
    run(path, "tf_orders", "20240229", "delta", delta_start_date="20240201")
    assert query(postgres_url, "SELECT id, amount FROM tf_completed ORDER BY id") == (
        expected_month(2, version=2)
    )


@pytest.mark.parametrize(
    "attack", ["completed' OR '1'='1", "{{ 7*7 }}", "x'; DROP TABLE tf_orders; --"]
)
def test_params_are_literals(tmp_path: Path, postgres_url: str, attack: str) -> None:
    path = config(tmp_path, postgres_url, status=attack)
    run(path, "tf_orders", "20240415")
    run(path, "tf_completed_view", "20240215")
    assert query(postgres_url, "SELECT COUNT(*) FROM tf_completed") == [(0,)]
    assert query(postgres_url, "SELECT COUNT(*) FROM tf_orders") == [(120,)]


def test_a_view_whose_columns_change_is_replaced(tmp_path: Path, postgres_url: str) -> None:
    path = config(tmp_path, postgres_url)
    run(path, "tf_orders", "20240415")
    run(path, "tf_completed_view", "20240215")

    @register("tf_fewer_columns")
    class Fewer(TfCompletedView):
        fields = [("id", "id"), ("amount * 100 || '%'", "percent")]  # % reaches SQL as is
        where_clause = "status = 'completed' AND day >= {{ month_start(ds) }}"

    run(path, "tf_fewer_columns", "20240215")
    assert query(postgres_url, "SELECT id, percent FROM tf_completed ORDER BY id LIMIT 1") == [
        (32, "32000%")
    ]


def test_table_transform_truncate_twice_and_delta(tmp_path: Path, postgres_url: str) -> None:
    path = config(tmp_path, postgres_url)
    run(path, "tf_orders", "20240415")
    for _ in range(2):
        run(path, "tf_completed_table", "20240415")
        assert query(postgres_url, "SELECT COUNT(*) FROM tf_completed_table") == [(60,)]
    path = config(tmp_path, postgres_url, version=5)
    run(path, "tf_orders", "20240110", "delta", delta_start_date="20240101")
    run(path, "tf_completed_table", "20240110", "delta", delta_start_date="20240101")
    assert query(
        postgres_url, "SELECT id, double_amount FROM tf_completed_table WHERE id < 12 ORDER BY id"
    ) == [(i, 2 * (i * 10 + 5)) for i in range(0, 10, 2)] + [(10, 200)]


# --- source checks, the view's fence, ALL_COLUMNS tables (issue 14) ---------------------


def test_missing_table_or_column_exits_3_and_touches_nothing(
    tmp_path: Path, postgres_url: str
) -> None:
    from etl_framework.exceptions import ExitCode

    path = config(tmp_path, postgres_url)
    summary = run_transfer(
        "tf_completed_view", "20240215", "truncate", path, ignore_dependencies=True
    )
    assert summary.exit_code == ExitCode.CONFIG
    assert summary.error == (
        "transform 'tf_completed_view': source table tf_orders does not exist in connection "
        "'warehouse'; nothing was touched"
    )
    run(path, "tf_orders", "20240415")
    summary = run_transfer("tf_missing_column_view", "20240415", "truncate", path)
    assert summary.exit_code == ExitCode.CONFIG
    assert summary.error == (
        "transform 'tf_missing_column_view': its SELECT does not run on tf_orders: "
        'column "discount" does not exist; nothing was touched'
    )
    summary = run_transfer("tf_missing_column_table", "20240415", "truncate", path)
    assert summary.exit_code == ExitCode.CONFIG
    assert 'column "region" does not exist' in (summary.error or "")
    assert query(
        postgres_url,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "ORDER BY table_name",
    ) == [("etl_fence",), ("tf_orders",)]
    assert query(postgres_url, "SELECT target FROM etl_fence") == [("tf_orders",)]


def test_a_view_run_that_lost_its_target_replaces_nothing(
    tmp_path: Path, postgres_url: str
) -> None:
    from etl_framework.exceptions import ExitCode
    from etl_framework.load.sql.fence import SqlFence
    from etl_framework.window import Window
    from tests.support.ledger import FakeLedger

    path = config(tmp_path, postgres_url)
    run(path, "tf_orders", "20240415")
    first = run(path, "tf_completed_view", "20240215")
    assert query(
        postgres_url,
        "SELECT window_key, run_id, published_at IS NOT NULL FROM etl_fence "
        "WHERE target = 'tf_completed'",
    ) == [("all", first.run_id, True)]
    engine = sa.create_engine(postgres_url)
    try:
        newer = SqlFence("tf_completed", Window.unbounded(), token=2**62, run_id="ffffffff-new")
        newer.claim(engine, FakeLedger().handle("ffffffff-new"))  # type: ignore[arg-type]
    finally:
        engine.dispose()
    summary = run_transfer("tf_completed_view", "20240310", "truncate", path)
    assert summary.exit_code == ExitCode.LEASE_HELD
    assert "ffffffff-new" in (summary.error or "")
    assert query(postgres_url, "SELECT id, amount FROM tf_completed ORDER BY id") == (
        expected_month(2)
    )


def test_an_all_columns_table_truncate_and_delta(tmp_path: Path, postgres_url: str) -> None:
    path = config(tmp_path, postgres_url)
    run(path, "tf_orders", "20240415")
    for _ in range(2):
        run(path, "tf_all_columns_table", "20240415")
        assert query(postgres_url, "SELECT COUNT(*), MIN(status) FROM tf_all_completed") == [
            (60, "completed")
        ]
    assert query(
        postgres_url,
        "SELECT column_name, data_type, character_maximum_length, is_nullable "
        "FROM information_schema.columns WHERE table_name = 'tf_all_completed' "
        "ORDER BY ordinal_position",
    ) == [
        ("id", "bigint", None, "NO"),
        ("day", "date", None, "NO"),
        ("status", "character varying", 16, "NO"),
        ("amount", "integer", None, "NO"),
    ]
    path = config(tmp_path, postgres_url, version=5)
    run(path, "tf_orders", "20240110", "delta", delta_start_date="20240101")
    run(path, "tf_all_columns_table", "20240110", "delta", delta_start_date="20240101")
    assert query(
        postgres_url, "SELECT id, amount FROM tf_all_completed WHERE id <= 10 ORDER BY id"
    ) == [(i, i * 10 + (5 if i < 10 else 0)) for i in range(0, 11, 2)]
    assert query(postgres_url, "SELECT COUNT(*) FROM tf_all_completed") == [(60,)]
