"""``etlctl``: run history with steps, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import tests.support.sample_jobs  # noqa: F401  registers the trace transfers
from etl_framework.admin import cli, main
from etl_framework.testing import TransferHarness


def test_runs_lists_history_with_steps(tmp_path: Path) -> None:
    options = {"trace_dir": str(tmp_path / "trace")}
    harness = TransferHarness(tmp_path / "h", transfers={"trace_job": options})
    assert harness.run("trace_job", "20240115", "truncate").exit_code == 0
    result = CliRunner().invoke(cli, ["runs", str(harness.config_path), "--steps"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "trace_job" in lines[1] and "succeeded" in lines[1]
    steps = [line.split() for line in lines[2:]]
    assert [(s[1], s[2]) for s in steps] == [
        ("pre_execution_cleansing", "succeeded"),
        ("pipeline", "succeeded"),
        ("post_execution_cleanup", "succeeded"),
    ]


def test_errors_are_one_line_with_the_config_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["etlctl", "runs", str(tmp_path / "missing.yaml")])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 3
    assert capsys.readouterr().err.strip().startswith("etlctl: error: config file")
