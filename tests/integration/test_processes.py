"""Real `pipeline` processes: SIGTERM handling and the lease between processes."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from etl_framework.state import RunStore
from tests.support.pipeline import run_pipeline, start_pipeline


def write_config(tmp_path: Path, sleep: float, state_url: str | None = None) -> Path:
    config = tmp_path / "config.yaml"
    state = state_url or f"sqlite:///{tmp_path / 'state.db'}"
    config.write_text(
        f"state: {{url: '{state}', heartbeat_seconds: 0.5}}\n"
        "logging: {format: json}\n"
        f"transfers:\n  trace_job: {{trace_dir: '{tmp_path / 'trace'}', sleep_seconds: {sleep}}}\n"
    )
    return config


def wait_for(path: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}")


def test_sigterm_during_pipeline_runs_cleanup_and_records_failure(tmp_path: Path) -> None:
    config = write_config(tmp_path, sleep=60)
    proc = start_pipeline(["20240115", "trace_job", "truncate", str(config)], cwd=tmp_path)
    steps_file = tmp_path / "trace" / "steps.jsonl"
    wait_for(steps_file, "pipeline_started")
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    steps = [json.loads(line) for line in steps_file.read_text().splitlines()]
    assert steps[-1] == {
        **steps[-1],
        "step": "post_execution_cleanup",
        "status": "failed",
        "error": "TerminatedError",
    }
    store = RunStore(f"sqlite:///{tmp_path / 'state.db'}")
    [run] = store.runs()
    assert run.status == "failed" and run.error == "run terminated by SIGTERM"
    assert "run terminated by SIGTERM" in err
    assert [(s.step, s.status) for s in store.steps(run.run_id)] == [
        ("pre_execution_cleansing", "succeeded"),
        ("pipeline", "failed"),
        ("post_execution_cleanup", "succeeded"),
    ]
    store.close()


def run_two_concurrently(tmp_path: Path, state_url: str | None = None) -> list[int]:
    config = write_config(tmp_path, sleep=3, state_url=state_url)
    args = ["20240115", "trace_job", "truncate", str(config)]
    first = start_pipeline(args, cwd=tmp_path)
    wait_for(tmp_path / "trace" / "steps.jsonl", "pipeline_started")
    second = run_pipeline(args, cwd=tmp_path)
    first.communicate(timeout=60)
    assert "is leased by run" in second.stderr
    return sorted([first.returncode, second.returncode])


def test_two_concurrent_processes_one_exits_4(tmp_path: Path) -> None:
    assert run_two_concurrently(tmp_path) == [0, 4]
    runs = RunStore(f"sqlite:///{tmp_path / 'state.db'}").runs()
    assert [r.status for r in runs] == ["succeeded"]  # the refused run touched nothing


@pytest.mark.postgres
def test_two_concurrent_processes_on_postgres_ledger(tmp_path: Path, postgres_url: str) -> None:
    store = RunStore(postgres_url)
    try:
        store.upgrade()  # PostgreSQL ledgers are migrated by an admin (etlctl db upgrade)
        assert run_two_concurrently(tmp_path, postgres_url) == [0, 4]
        assert [r.status for r in store.runs()] == ["succeeded"]
    finally:
        store.close()


def test_a_run_whose_lease_is_taken_over_stops_and_is_recorded_failed(tmp_path: Path) -> None:
    config = write_config(tmp_path, sleep=60)
    proc = start_pipeline(["20240115", "trace_job", "truncate", str(config)], cwd=tmp_path)
    steps_file = tmp_path / "trace" / "steps.jsonl"
    wait_for(steps_file, "pipeline_started")
    store = RunStore(f"sqlite:///{tmp_path / 'state.db'}")
    import sqlalchemy as sa

    with store.engine.begin() as conn:  # what a taking-over run does to a stale lease
        conn.execute(sa.text("DELETE FROM etl_leases"))
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 4, err  # fenced out, not a job failure
    [run] = store.runs()
    assert run.status == "failed" and "lease lost" in (run.error or "")
    assert run.error.startswith("fenced out of transfer 'trace_job'")
    assert json.loads(steps_file.read_text().splitlines()[-1])["status"] == "failed"
