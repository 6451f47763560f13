"""SqlTransformJob on SQLite through the real runner: views, tables, dependencies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from etl_framework import register
from etl_framework.cli import main
from etl_framework.exceptions import ExitCode, TemplateError, UpstreamNotReadyError
from etl_framework.runner import run_transfer
from etl_framework.testing import TransferHarness
from etl_framework.transforms import SqlTransformJob
from tests.support.transform_jobs import TfCompletedView, expected_month


def harness(tmp_path: Path, status: str = "completed", **orders: Any) -> TransferHarness:
    return TransferHarness(
        tmp_path,
        transfers={
            "tf_orders": dict(orders),
            "tf_completed_view": {"params": {"status": status}},
        },
    )


def run(h: TransferHarness, name: str, day: str, mode: str = "truncate", **kw: Any) -> Any:
    return run_transfer(name, day, mode, str(h.config_path), **kw)


def view_rows(h: TransferHarness) -> list[tuple[Any, ...]]:
    return h.query("SELECT id, amount FROM tf_completed ORDER BY id")


def test_the_view_holds_exactly_the_month_and_a_second_run_changes_nothing(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path)
    assert run(h, "tf_orders", "20240415").succeeded
    for _ in range(2):
        summary = run(h, "tf_completed_view", "20240215")
        assert summary.succeeded, summary.error
        assert view_rows(h) == expected_month(2)
    assert h.query("SELECT type, name FROM sqlite_master WHERE name LIKE 'tf_completed%'") == [
        ("view", "tf_completed")
    ]
    # another month replaces the view's definition
    assert run(h, "tf_completed_view", "20240310").succeeded
    assert view_rows(h) == expected_month(3)


@pytest.mark.parametrize(
    "attack", ["completed' OR '1'='1", "{{ 7*7 }}", "completed'; DROP TABLE tf_orders; --"]
)
def test_a_param_is_a_literal_not_sql_or_a_template(tmp_path: Path, attack: str) -> None:
    h = harness(tmp_path, status=attack)
    assert run(h, "tf_orders", "20240415").succeeded
    summary = run(h, "tf_completed_view", "20240215")
    assert summary.succeeded, summary.error
    assert view_rows(h) == []  # no status equals the attack text
    assert h.query("SELECT COUNT(*) FROM tf_orders") == [(120,)]
    (sql,) = h.query("SELECT sql FROM sqlite_master WHERE name = 'tf_completed'")[0]
    assert "status = '" + attack.replace("'", "''") + "'" in sql


def test_all_columns_view(tmp_path: Path) -> None:
    h = harness(tmp_path)
    assert run(h, "tf_orders", "20240415").succeeded
    assert run(h, "tf_all_columns_view", "20240415").succeeded
    assert h.query("SELECT COUNT(*), MIN(id), MAX(status) FROM tf_everything") == [(120, 0, "open")]


def test_a_dependent_view_survives_the_upstreams_truncate_and_delta_runs(tmp_path: Path) -> None:
    h = harness(tmp_path)
    assert run(h, "tf_orders", "20240415").succeeded
    assert run(h, "tf_completed_view", "20240215").succeeded
    h = harness(tmp_path, version=1)
    assert run(h, "tf_orders", "20240415").succeeded  # truncate
    assert view_rows(h) == expected_month(2, version=1)
    h = harness(tmp_path, version=2)
    assert run(h, "tf_orders", "20240229", "delta", delta_start_date="20240201").succeeded
    assert view_rows(h) == expected_month(2, version=2)


def test_a_table_transform_is_idempotent_and_delta_replaces_its_window(tmp_path: Path) -> None:
    h = harness(tmp_path)
    assert run(h, "tf_orders", "20240415").succeeded
    for _ in range(2):
        summary = run(h, "tf_completed_table", "20240415")
        assert summary.succeeded, summary.error
        assert h.query("SELECT COUNT(*), SUM(double_amount) FROM tf_completed_table") == [
            (60, sum(2 * i * 10 for i in range(0, 120, 2)))
        ]
    h = harness(tmp_path, version=5)
    assert run(h, "tf_orders", "20240110", "delta", delta_start_date="20240101").succeeded
    summary = run(h, "tf_completed_table", "20240110", "delta", delta_start_date="20240101")
    assert summary.succeeded, summary.error
    changed = h.query("SELECT id, double_amount FROM tf_completed_table WHERE id < 10 ORDER BY id")
    assert changed == [(i, 2 * (i * 10 + 5)) for i in range(0, 10, 2)]
    assert h.query("SELECT COUNT(*) FROM tf_completed_table") == [(60,)]
    assert h.query("SELECT double_amount FROM tf_completed_table WHERE id = 10") == [(200,)]


# --- dependencies ---------------------------------------------------------------------


def test_upstream_not_covered_exits_75_and_touches_nothing(tmp_path: Path) -> None:
    h = harness(tmp_path)
    with pytest.raises(UpstreamNotReadyError) as caught:
        run(h, "tf_completed_view", "20240215")
    assert str(caught.value) == "upstream tf_orders has not covered 2024-02-15..2024-02-15 yet"
    assert caught.value.exit_code == 75
    assert h.runs() == []
    assert h.query("SELECT name FROM sqlite_master WHERE name = 'tf_completed'") == []


def test_a_delta_window_must_be_covered_whole(tmp_path: Path) -> None:
    h = harness(tmp_path)
    assert run(h, "tf_orders", "20240210", "delta", delta_start_date="20240201").succeeded
    assert run(h, "tf_orders", "20240215", "delta", delta_start_date="20240211").succeeded
    with pytest.raises(UpstreamNotReadyError, match=r"covered 2024-02-16\.\.2024-02-29 yet"):
        run(h, "tf_completed_table", "20240229", "delta", delta_start_date="20240201")
    summary = run(h, "tf_completed_table", "20240215", "delta", delta_start_date="20240201")
    assert summary.succeeded, summary.error


def test_ignore_dependencies_runs_anyway(tmp_path: Path) -> None:
    h = harness(tmp_path)
    assert run(h, "tf_orders", "20240101", "delta").succeeded  # creates the table only
    summary = run(h, "tf_completed_view", "20240215", ignore_dependencies=True)
    assert summary.succeeded, summary.error


def test_the_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = harness(tmp_path)
    args = ["20240215", "tf_completed_view", "truncate", str(h.config_path)]
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 75
    assert capsys.readouterr().err.strip() == (
        "pipeline: error: upstream tf_orders has not covered 2024-02-15..2024-02-15 yet"
    )
    # --depends-on adds an upstream the class does not declare
    with pytest.raises(SystemExit) as exited:
        main(
            ["20240215", "tf_orders", "truncate", str(h.config_path), "--depends-on", "tf_empty_ok"]
        )
    assert exited.value.code == 75
    assert "upstream tf_empty_ok" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main([*args, "--ignore-dependencies"])
    # it ran, and refused a view over a missing table (SQLite itself would accept it)
    assert exited.value.code == ExitCode.CONFIG
    assert (
        capsys.readouterr()
        .err.strip()
        .splitlines()[-1]
        .endswith(
            "error: transform 'tf_completed_view': source table tf_orders does not "
            "exist in connection 'warehouse'; nothing was touched"
        )
    )
    assert h.query("SELECT type FROM sqlite_master WHERE name = 'tf_completed'") == []


def test_an_unknown_upstream_is_a_usage_error(tmp_path: Path) -> None:
    h = harness(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["20240215", "tf_orders", "truncate", str(h.config_path), "--depends-on", "nope"])
    assert exited.value.code == ExitCode.USAGE


def test_a_template_error_exits_3_before_anything_is_touched(tmp_path: Path) -> None:
    @register("tf_bad_template")
    class BadTemplate(TfCompletedView):
        where_clause = "status = 'completed'\n  AND day >= {{ month_start(dss) }}"

    h = harness(tmp_path)
    assert run(h, "tf_orders", "20240415").succeeded
    before = h.runs()
    with pytest.raises(TemplateError) as caught:
        run(h, "tf_bad_template", "20240215")
    assert caught.value.exit_code == ExitCode.CONFIG
    assert caught.value.line == 2
    assert "BadTemplate.where_clause line 2: 'dss' is undefined" in str(caught.value)
    assert len(h.runs()) == len(before)
    assert h.query("SELECT name FROM sqlite_master WHERE name = 'tf_completed'") == []


def test_a_table_transform_needs_typed_fields() -> None:
    from etl_framework.exceptions import RegistryError

    with pytest.raises(RegistryError, match="typed fields"):

        class Untyped(SqlTransformJob):
            upstream = "tf_orders"
            materialized = "table"
            fields = [("id", "id")]


def test_depends_on_includes_the_upstream() -> None:
    assert TfCompletedView.depends_on == ("tf_orders",)
    assert TfCompletedView.dependencies(("x", "tf_orders")) == ("tf_orders", "x")


# --- no data yet ------------------------------------------------------------------------


def test_no_data_yet_exits_75_and_publishes_nothing(tmp_path: Path) -> None:
    h = TransferHarness(tmp_path)
    summary = h.run("tf_not_ready", "20240215", "delta")
    assert summary.exit_code == 75
    assert "no data yet for tf_not_ready window 20240215..20240216" in (summary.error or "")
    assert h.query("SELECT name FROM sqlite_master WHERE name LIKE '%tf_late%'") == []
    (record,) = h.runs()
    assert (record.status, record.exit_code) == ("failed", 75)


def test_an_empty_but_valid_source_succeeds(tmp_path: Path) -> None:
    h = TransferHarness(tmp_path)
    summary = h.run("tf_empty_ok", "20240215", "delta")
    assert summary.succeeded, summary.error


def test_a_late_source_with_data_publishes(tmp_path: Path) -> None:
    h = TransferHarness(tmp_path, transfers={"tf_not_ready": {"rows": 3}})
    summary = h.run("tf_not_ready", "20240215", "delta")
    assert summary.succeeded, summary.error
    assert h.query("SELECT COUNT(*) FROM tf_late") == [(3,)]


def test_not_ready_exit_codes_are_retried_by_kubernetes_and_airflow() -> None:
    from etl_framework.deploy.manifests import (
        FAIL_AT_ONCE_EXIT_CODES,
        RETRY_EXIT_CODES,
        pod_failure_policy,
    )
    from etl_framework.exceptions import NoDataYetError

    codes = {UpstreamNotReadyError("a", "x", "y").exit_code, NoDataYetError("a", "w").exit_code}
    assert codes == {75}
    assert 75 in RETRY_EXIT_CODES and 75 not in FAIL_AT_ONCE_EXIT_CODES
    assert "75" in repr(pod_failure_policy())
