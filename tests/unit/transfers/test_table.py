"""TableTransferJob end to end through the real runner, on a temporary SQLite warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from etl_framework import WriteMode, register
from etl_framework.exceptions import ConfigValidationError, ExitCode, RegistryError
from etl_framework.mapping import FieldMapping
from etl_framework.testing import TransferHarness
from etl_framework.transfers import TableTransferJob
from tests.support.unit_orders import (
    UnitOrdersJob,
)


@register("unit_orders_merge")
class UnitOrdersMergeJob(UnitOrdersJob):
    delta_strategy = "merge"


@register("unit_orders_full_only")
class FullOnlyJob(TableTransferJob):
    target_table = "full_only"
    mapping = FieldMapping.from_tuples([("id", "id", "bigint")])
    seen: ClassVar[list[str]] = []

    def source(self) -> Iterator[dict[str, Any]]:
        yield {"id": 1}

    def transform(self, record: Any) -> Any:
        self.seen.append("transform")
        return record


def harness(tmp_path: Path, name: str = "unit_orders", **options: Any) -> TransferHarness:
    return TransferHarness(tmp_path, transfers={name: options})


def test_truncate_then_delta(tmp_path: Path) -> None:
    h = harness(tmp_path)
    summary = h.run("unit_orders", "20240115", "truncate")
    assert summary.succeeded, summary.error
    assert (summary.rows_read, summary.rows_written) == (60, 60)
    h = harness(tmp_path, version=1)
    summary = h.run("unit_orders", "20240112", "delta", "20240110")
    assert summary.succeeded, summary.error
    assert summary.rows_written == 6
    assert summary.metrics.get("rows_deleted") == 6
    assert h.query("SELECT version, COUNT(*) FROM orders GROUP BY 1 ORDER BY 1") == [
        (0, 54),
        (1, 6),
    ]
    assert h.query("SELECT name FROM sqlite_master WHERE name LIKE '_stg_%'") == []


def test_merge_delta_upserts(tmp_path: Path) -> None:
    name = "unit_orders_merge"
    assert harness(tmp_path, name, rows=10).run(name, "20240115", "truncate").succeeded
    summary = harness(tmp_path, name, rows=40, version=2).run(
        "unit_orders_merge", "20240105", "delta", "20240101"
    )
    assert summary.succeeded, summary.error
    rows = harness(tmp_path).query("SELECT version, COUNT(*) FROM orders GROUP BY 1 ORDER BY 1")
    # ids 0..9 replaced by version 2 when their day is in the window; 30..39 inserted
    assert rows == [(0, 5), (2, 10)]


def test_supported_modes_follow_declarations() -> None:
    assert UnitOrdersJob.supported_modes == frozenset(WriteMode)
    assert FullOnlyJob.supported_modes == frozenset({WriteMode.TRUNCATE})
    assert UnitOrdersMergeJob.supported_modes == frozenset(WriteMode)


def test_transform_hook_runs(tmp_path: Path) -> None:
    FullOnlyJob.seen.clear()
    summary = harness(tmp_path, "unit_orders_full_only").run(
        "unit_orders_full_only", "20240115", "truncate"
    )
    assert summary.succeeded, summary.error
    assert FullOnlyJob.seen == ["transform"]


def test_bad_window_column_is_a_registry_error() -> None:
    with pytest.raises(RegistryError, match="window_column"):

        class Bad(TableTransferJob):
            mapping = FieldMapping.from_tuples([("a", "a", "text")])
            window_column = "a"

            def source(self) -> Iterator[dict[str, Any]]:
                yield {}


def test_truncate_guard_defaults_and_their_override_in_config(tmp_path: Path) -> None:
    """Without guards in config a truncate refuses a source below half the table; the
    transfer's ``guards.min_fraction`` overrides it."""
    assert harness(tmp_path).run("unit_orders", "20240115", "truncate").succeeded
    before = harness(tmp_path).query("SELECT * FROM orders ORDER BY id")
    summary = harness(tmp_path, rows=29).run("unit_orders", "20240115", "truncate")
    assert summary.exit_code == ExitCode.FAILED
    assert "guard 'min_fraction' refused to publish: 29 rows staged would replace 60" in (
        summary.error or ""
    )
    assert harness(tmp_path).query("SELECT * FROM orders ORDER BY id") == before
    h = harness(tmp_path, rows=29, guards={"min_fraction": 0.25})
    assert h.run("unit_orders", "20240115", "truncate").succeeded
    assert h.query("SELECT COUNT(*) FROM orders") == [(29,)]


def test_failing_guard_exits_1_and_leaves_target_untouched(tmp_path: Path) -> None:
    h = harness(tmp_path)
    assert h.run("unit_orders", "20240115", "truncate").succeeded
    before = h.query("SELECT * FROM orders ORDER BY id")
    h = harness(tmp_path, rows=30, guards={"min_fraction": 0.9})
    summary = h.run("unit_orders", "20240115", "truncate")
    assert summary.exit_code == ExitCode.FAILED
    assert summary.error is not None
    assert "min_fraction" in summary.error and "30 rows staged would replace 60" in summary.error
    assert h.query("SELECT * FROM orders ORDER BY id") == before
    assert h.query("SELECT name FROM sqlite_master WHERE name LIKE '_stg_%'") == []


def test_all_null_guard_and_its_exemption(tmp_path: Path) -> None:
    h = harness(tmp_path, label=None)
    summary = h.run("unit_orders", "20240115", "truncate")
    assert summary.exit_code == ExitCode.FAILED and "label" in (summary.error or "")
    h = harness(tmp_path, label=None, guards={"all_null_allowed": ["label"]})
    assert h.run("unit_orders", "20240115", "truncate").succeeded


def test_bad_source_value_fails_the_run(tmp_path: Path) -> None:
    h = harness(tmp_path, label="y" * 31)
    summary = h.run("unit_orders", "20240115", "truncate")
    assert summary.exit_code == ExitCode.FAILED
    assert "column 'label'" in (summary.error or "") and "varchar(30)" in (summary.error or "")


@pytest.mark.parametrize(
    "table",
    [
        "orders; DROP TABLE canary",
        'orders" (id int); DROP TABLE canary; --',
        "main.orders.x",
        "ord ers",
        "9orders",
    ],
)
def test_hostile_table_name_from_config_is_rejected(tmp_path: Path, table: str) -> None:
    h = harness(tmp_path, table=table)
    import sqlalchemy as sa

    engine = sa.create_engine(h.warehouse_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE canary (id int)")
    engine.dispose()
    # found before the run starts: exit 3, and the ledger is never written
    with pytest.raises(
        ConfigValidationError, match=r"transfers\.unit_orders\.table: invalid"
    ) as info:
        h.run("unit_orders", "20240115", "truncate")
    assert info.value.exit_code == ExitCode.CONFIG
    assert not Path(h.state_url.removeprefix("sqlite:///")).exists()  # not even created
    assert h.query("SELECT name FROM sqlite_master WHERE type = 'table'") == [("canary",)]


def test_odd_valid_table_name_is_quoted(tmp_path: Path) -> None:
    h = harness(tmp_path, table="Select")
    assert h.run("unit_orders", "20240115", "truncate").succeeded
    assert h.query('SELECT COUNT(*) FROM "Select"') == [(60,)]


def test_schema_mismatch_exits_1_before_data_moves(tmp_path: Path) -> None:
    h = harness(tmp_path)
    import sqlalchemy as sa

    engine = sa.create_engine(h.warehouse_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE orders (id BIGINT PRIMARY KEY, day DATE NOT NULL)")
    engine.dispose()
    summary = h.run("unit_orders", "20240115", "truncate")
    assert summary.exit_code == ExitCode.FAILED
    assert "does not match the field mapping" in (summary.error or "")
    assert h.query("SELECT COUNT(*) FROM orders") == [(0,)]


def test_demo_orders_truncate_and_delta(tmp_path: Path) -> None:
    import jobs.demo_orders  # noqa: F401  registers demo_orders

    h = harness(tmp_path, "demo_orders", table="orders")
    summary = h.run("demo_orders", "20240115", "truncate")
    assert summary.succeeded, summary.error
    total = h.query("SELECT COUNT(*), ROUND(SUM(amount), 2) FROM orders")
    day = h.query("SELECT COUNT(*) FROM orders WHERE order_date = '2024-01-15'")
    summary = h.run("demo_orders", "20240115", "delta")
    assert summary.succeeded, summary.error
    assert summary.rows_written == day[0][0]
    assert h.query("SELECT COUNT(*), ROUND(SUM(amount), 2) FROM orders") == total


def test_direct_publish_option(tmp_path: Path) -> None:
    h = harness(tmp_path, publish="direct")
    assert h.run("unit_orders", "20240115", "truncate").succeeded
    h = harness(tmp_path, publish="direct", version=1)
    summary = h.run("unit_orders", "20240112", "delta", "20240110")
    assert summary.succeeded, summary.error
    assert h.query("SELECT version, COUNT(*) FROM orders GROUP BY 1 ORDER BY 1") == [
        (0, 54),
        (1, 6),
    ]
    h = harness(tmp_path, publish="direct", replace_method="truncate")
    summary = h.run("unit_orders", "20240115", "truncate")
    assert summary.exit_code == ExitCode.CONFIG and "cannot publish directly" in (
        summary.error or ""
    )


def test_direct_publish_on_a_merge_delta_is_said_to_have_no_effect(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    name = "unit_orders_merge"
    assert harness(tmp_path, name, rows=10).run(name, "20240115", "truncate").succeeded
    capfd.readouterr()
    summary = harness(tmp_path, name, rows=10, publish="direct").run(
        name, "20240105", "delta", "20240101"
    )
    assert summary.succeeded, summary.error
    assert "publish: direct has no effect on merge delta runs" in capfd.readouterr().err


def test_an_unreachable_warehouse_is_transient_and_says_so(tmp_path: Path) -> None:
    h = TransferHarness(
        tmp_path,
        connections={
            "warehouse": {"type": "sql", "url": "postgresql+psycopg://etl:pw@127.0.0.1:1/dwh"}
        },
    )
    summary = h.run("unit_orders", "20240115", "truncate")
    assert summary.exit_code == ExitCode.TRANSIENT, summary.error
    assert (summary.error or "").startswith("database unreachable: ")
    assert "pw@" not in (summary.error or "")


def test_a_failed_run_still_counts_the_rows_it_read(tmp_path: Path) -> None:
    summary = harness(tmp_path, rows=1500, fail_after=1200).run(
        "unit_orders", "20240115", "truncate"
    )
    assert summary.exit_code == ExitCode.FAILED
    assert summary.rows_read == 1200


@pytest.mark.parametrize(
    ("connections", "expected"),
    [
        ({}, "connections: needs a connection named 'warehouse' (known connections: none)"),
        (
            {"warehouse": {"type": "http", "base_url": "https://api.test/"}},
            "connections.warehouse.type: is 'http'; needs 'sql'",
        ),
        (
            {"warehouse": {"type": "sql", "url": "nonsense"}},
            "connections.warehouse.url: Value error, not a SQLAlchemy database URL",
        ),
    ],
)
def test_connection_problems_are_config_errors_before_anything_is_touched(
    tmp_path: Path, connections: dict[str, Any], expected: str
) -> None:
    import yaml

    from etl_framework.exceptions import ConfigValidationError
    from etl_framework.runner import run_transfer

    config = tmp_path / "config.yaml"
    state = tmp_path / "state.db"
    config.write_text(
        yaml.safe_dump({"state": {"url": f"sqlite:///{state}"}, "connections": connections})
    )
    with pytest.raises(ConfigValidationError) as caught:
        run_transfer("unit_orders", "20240115", "truncate", str(config))
    assert expected in str(caught.value)
    assert not state.exists()
