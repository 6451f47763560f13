"""The `pipeline` entry point: arguments, exit codes, one-line errors, nothing touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_framework import __version__
from etl_framework.cli import main


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text(
        "state: {url: 'sqlite:///.etl/state.db'}\n"
        "logging: {format: json}\n"
        "connections:\n  warehouse: {type: sql, url: 'sqlite:///.etl/warehouse.db'}\n"
    )
    return tmp_path


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(["--version"], capsys)
    assert code == 0 and out.strip() == f"pipeline {__version__}"


def test_list_transfers(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(["--list-transfers"], capsys)
    assert code == 0 and "demo_orders" in out


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["2024-13-01", "demo_orders", "truncate", "config.yaml"], 2, "'2024-13-01' is not a date"),
        (["20240115", "demo_order", "truncate", "config.yaml"], 2, "did you mean 'demo_orders'"),
        (["20240115", "demo_orders", "full", "config.yaml"], 2, "'full' is not one of"),
        (
            ["20240115", "demo_orders", "delta", "config.yaml", "--delta_start_date", "20240116"],
            2,
            "delta start date 20240116 is after execution date 20240115",
        ),
        (
            [
                "20240115",
                "demo_orders",
                "truncate",
                "config.yaml",
                "--delta_start_date",
                "20240110",
            ],
            2,
            "--delta_start_date is only valid with mode delta",
        ),
        (["20240115", "demo_orders", "truncate"], 2, "Missing argument 'CONFIG_LOCATION'"),
        (
            ["20240115", "demo_orders", "truncate", "missing.yaml"],
            3,
            "config file missing.yaml does not exist",
        ),
    ],
)
def test_bad_input_exits_with_one_line_and_touches_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, needle: str
) -> None:
    exit_code, out, err = run_main(args, capsys)
    assert exit_code == code and out == ""
    assert err.count("\n") == 1 and err.startswith("pipeline: error: ")
    assert needle in err
    assert not (workdir / ".etl").exists()


def test_broken_config_exits_3_and_lists_all_problems(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "config.yaml").write_text(
        "logging: {format: xml}\nconnections:\n  warehouse: {type: sql}\n"
        "transfers:\n  demo_orders: {tabel: orders}\n"
    )
    code, _, err = run_main(["20240115", "demo_orders", "truncate", "config.yaml"], capsys)
    assert code == 3 and err.count("\n") == 1
    for path in ("logging.format", "connections.warehouse.url"):
        assert path in err
    assert not (workdir / ".etl").exists()


def test_invalid_transfer_options_exit_3(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with (workdir / "config.yaml").open("a") as fh:
        fh.write("transfers:\n  demo_orders: {tabel: orders}\n")
    code, _, err = run_main(["20240115", "demo_orders", "truncate", "config.yaml"], capsys)
    assert code == 3 and "transfers.demo_orders.tabel" in err
    assert not (workdir / ".etl").exists()


def test_missing_secret_exits_3(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "config.yaml").write_text(
        "connections:\n  warehouse: {type: sql, url: '${WAREHOUSE_URL}'}\n"
    )
    code, _, err = run_main(["20240115", "demo_orders", "truncate", "config.yaml"], capsys)
    assert code == 3 and "'WAREHOUSE_URL' is not set" in err
    assert not (workdir / ".etl").exists()


def test_unsupported_mode_exits_2(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import tests.support.sample_jobs  # noqa: F401  registers trace_delta_only

    code, _, err = run_main(["20240115", "trace_delta_only", "truncate", "config.yaml"], capsys)
    assert code == 2 and "does not support mode 'truncate'" in err


def test_successful_run_exits_0(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(["20240115", "demo_orders", "delta", "config.yaml"], capsys)
    assert code == 0
    assert "succeeded" in err and (workdir / ".etl" / "warehouse.db").exists()


def test_help_is_fast_and_imports_no_cloud_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, time; t = time.perf_counter(); from etl_framework.cli import command; "
        "from click.testing import CliRunner; CliRunner().invoke(command, ['--help']); "
        "heavy = [m for m in sys.modules if m.startswith(('google', 'psycopg', 'kubernetes', "
        "'airflow', 'sqlalchemy', 'pydantic', 'requests', 'alembic'))]; "
        "print(time.perf_counter() - t, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, heavy = out.stdout.split(" ", 1)
    assert heavy.strip() == "[]"
    assert float(seconds) < 0.5
