"""``etlctl``: run history with steps, one-line errors."""

from __future__ import annotations

import datetime as dt
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


def test_runs_steps_show_the_orchestrator_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = {"trace_dir": str(tmp_path / "trace")}
    harness = TransferHarness(tmp_path / "h", transfers={"trace_job": options})
    monkeypatch.delenv("AIRFLOW_CTX_DAG_RUN_ID", raising=False)
    monkeypatch.setenv("ETL_ORCHESTRATOR_RUN_ID", "etl-trace-job-20240115-backfill-q1w2e")
    assert harness.run("trace_job", "20240115", "truncate").exit_code == 0
    monkeypatch.delenv("ETL_ORCHESTRATOR_RUN_ID")
    assert harness.run("trace_job", "20240116", "truncate").exit_code == 0
    result = CliRunner().invoke(cli, ["runs", str(harness.config_path), "--steps"])
    assert result.exit_code == 0, result.output
    blocks: list[list[str]] = []  # a run's line, then its detail lines (indented)
    for line in result.output.splitlines()[1:]:
        if line.startswith(" "):
            blocks[-1].append(line.split("- ", 1)[1])
        else:
            blocks.append([line])
    assert len(blocks) == 2
    (airflow,) = [
        b for b in blocks if b[1] == "orchestrator run etl-trace-job-20240115-backfill-q1w2e"
    ]
    (by_hand,) = [b for b in blocks if b is not airflow]
    assert not any("orchestrator" in line for line in by_hand) and len(by_hand) == 4
    (airflow,) = [b for b in blocks if b[1].startswith("orchestrator run")]
    assert airflow[2].startswith("pre_execution_cleansing") and len(airflow) == 5
    plain = CliRunner().invoke(cli, ["runs", str(harness.config_path)])
    assert "orchestrator" not in plain.output  # one line per run without --steps


def test_runs_steps_show_bigquery_costs(tmp_path: Path) -> None:
    """Steps that ran BigQuery jobs show their costs; a figure no job reported is n/a,
    a step without BigQuery jobs shows none."""
    from etl_framework.job import StepRecord
    from etl_framework.state import RunStore
    from etl_framework.window import Window, WriteMode

    harness = TransferHarness(tmp_path / "h", transfers={})
    store = RunStore(harness.state_url)
    try:
        store.upgrade()
        store.start_run(
            run_id="bq-run",
            transfer="events",
            execution_date=dt.date(2024, 1, 15),
            mode=WriteMode.TRUNCATE,
            window=Window.unbounded(),
            exclusive=True,
        )
        store.finish_run(
            "bq-run",
            status="succeeded",
            rows_read=3,
            rows_written=3,
            steps={
                "pre_execution_cleansing": StepRecord(
                    0.1, 0, 0, succeeded=True, counters={"bq_jobs": 1, "bq_load_jobs": 0}
                ),
                "pipeline": StepRecord(
                    2.0,
                    3,
                    3,
                    succeeded=True,
                    counters={
                        "bq_jobs": 3,
                        "bq_load_jobs": 1,
                        "bq_bytes_processed": 1_258_291,
                        "bq_bytes_billed": 10_485_760,
                        "bq_slot_ms": 1234,
                        "rows_deleted": 2,
                    },
                ),
                "post_execution_cleanup": StepRecord(0.2, 0, 0, succeeded=True),
            },
        )
    finally:
        store.close()
    result = CliRunner().invoke(cli, ["runs", str(harness.config_path), "--steps"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[2].endswith(
        "0 read, 0 written  bq 1 job (0 load) processed n/a billed n/a slot-ms n/a"
    )
    assert lines[3].endswith(
        "3 read, 3 written  bq 3 jobs (1 load) processed 1.2 MiB billed 10.0 MiB slot-ms 1,234"
    )
    assert lines[4].endswith("0 read, 0 written")


def test_errors_are_one_line_with_the_config_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["etlctl", "runs", str(tmp_path / "missing.yaml")])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 3
    assert capsys.readouterr().err.strip().startswith("etlctl: error: config file")
