"""Leases between real `pipeline` processes: one writer per target table, a lease lost
to a stalled run (SIGSTOP past the TTL), and the ledger failing right after a publish.

(Crash recovery in seconds, a SIGKILL at every point then an immediate rerun, is in
crash_points.py, on SQLite and PostgreSQL ledgers.)
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from etl_framework.state import RunStore
from tests.support.crash_jobs import LEDGER_FAULT_ENV, PAUSE_ENV, record
from tests.support.pipeline import pipeline_env, run_pipeline, start_pipeline
from tests.support.takeover import ledger_runs, wait_for_file

ROWS = 3000
JOBS_ENV = {"ETL_JOBS_MODULES": "tests.support.crash_jobs"}
DAY = "20240112"


def _ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite ledger file, or a migrated PostgreSQL ledger."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    store = RunStore(url)
    try:
        store.upgrade()  # PostgreSQL ledgers are migrated by an admin (etlctl db upgrade)
    finally:
        store.close()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _ledger_url(request, tmp_path)


def _orders_config(tmp_path: Path, ledger: str, name: str, **transfers: Any) -> Path:
    config = {
        "state": {"url": ledger},
        "logging": {"format": "text", "progress": False},
        "connections": {
            # the same file, spelt two ways: still one target
            "warehouse": {"type": "sql", "url": f"sqlite:///{tmp_path / 'warehouse.db'}"},
            "also_warehouse": {"type": "sql", "url": "sqlite:///./warehouse.db"},
        },
        "transfers": transfers,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _orders(tmp_path: Path) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    try:
        with engine.connect() as conn:
            return [
                tuple(row)
                for row in conn.exec_driver_sql(
                    "SELECT id, day, version, payload FROM orders ORDER BY id"
                ).all()
            ]
    finally:
        engine.dispose()


def _clean_run(version: int) -> list[tuple[Any, ...]]:
    return [
        (r["id"], str(r["day"]), r["version"], r["payload"])
        for r in (record(i, version) for i in range(ROWS))
    ]


def test_two_transfers_writing_one_table_at_once_the_second_is_refused(
    tmp_path: Path, ledger: str
) -> None:
    config = _orders_config(
        tmp_path,
        ledger,
        "orders",
        crash_orders={"rows": ROWS, "version": 1},
        crash_orders_merge={"rows": ROWS, "version": 2, "connection": "also_warehouse"},
    )
    pause = tmp_path / "paused"
    first = start_pipeline(
        [DAY, "crash_orders", "truncate", str(config)],
        tmp_path,
        **JOBS_ENV,
        **{PAUSE_ENV: str(pause)},
    )
    try:
        wait_for_file(pause, first)  # the first run is writing the table
        second = run_pipeline(
            [DAY, "crash_orders_merge", "delta", str(config), "--delta_start_date", "20240110"],
            tmp_path,
            **JOBS_ENV,
        )
    finally:
        pause.unlink(missing_ok=True)
        _out, first_err = first.communicate(timeout=120)
    assert first.returncode == 0, first_err
    assert second.returncode == 4, second.stderr
    [line] = second.stderr.strip().splitlines()
    warehouse = (tmp_path / "warehouse.db").resolve()
    assert f"target sqlite:{warehouse}/orders is being written by run" in line
    assert "of transfer 'crash_orders'" in line
    assert _orders(tmp_path) == _clean_run(1)  # one clean run of the first transfer
    runs = ledger_runs(ledger)
    assert [(r.transfer, r.status) for r in runs] == [("crash_orders", "succeeded")]


def _trace_config(tmp_path: Path, ledger: str, name: str, sleep: float) -> Path:
    config = tmp_path / f"{name}.yaml"
    config.write_text(
        f"state: {{url: '{ledger}', lease_ttl_seconds: 1, heartbeat_seconds: 0.2}}\n"
        "logging: {format: text, progress: false}\n"
        f"transfers:\n  trace_job: {{trace_dir: '{tmp_path / name}', sleep_seconds: {sleep}}}\n"
    )
    return config


def test_a_stalled_run_whose_lease_was_taken_over_exits_4_naming_the_taker(
    tmp_path: Path, ledger: str
) -> None:
    args = ["20240115", "trace_job", "truncate"]
    first = start_pipeline([*args, str(_trace_config(tmp_path, ledger, "first", 60))], tmp_path)
    steps = tmp_path / "first" / "steps.jsonl"
    try:
        deadline = time.monotonic() + 30
        while not (steps.exists() and "pipeline_started" in steps.read_text()):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        first.send_signal(signal.SIGSTOP)  # a frozen node, a long GC pause
        time.sleep(1.5)  # past the TTL: the first run's heartbeat is stale
        second = run_pipeline(
            [*args, str(_trace_config(tmp_path, ledger, "second", 0.5))], tmp_path
        )
        assert second.returncode == 0, second.stderr
    finally:
        first.send_signal(signal.SIGCONT)
        _out, err = first.communicate(timeout=60)
    taken, taker = ledger_runs(ledger)
    assert first.returncode == 4, err
    assert (taker.status, taken.status) == ("succeeded", "failed")
    assert taken.error == f"lease expired (no heartbeat); taken over by run {taker.run_id}"
    summary = err.strip().splitlines()[-1]  # the run's one-line summary
    assert f"error: fenced out of transfer 'trace_job' window all: run {taker.run_id} took" in (
        summary
    ), err


def test_a_ledger_failing_after_publish_is_retried(tmp_path: Path, ledger: str) -> None:
    config = _orders_config(tmp_path, ledger, "orders", crash_orders={"rows": ROWS, "version": 1})
    result = run_pipeline(
        [DAY, "crash_orders", "truncate", str(config)],
        tmp_path,
        **JOBS_ENV,
        **{LEDGER_FAULT_ENV: "2"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("recording the run in the ledger failed") == 2
    [run] = ledger_runs(ledger)
    assert (run.status, run.exit_code, run.rows_written) == ("succeeded", 0, ROWS)
    assert _orders(tmp_path) == _clean_run(1)


def _etlctl_runs(config: Path, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", "from etl_framework.admin import main; main()", "runs", str(config)],
        cwd=cwd,
        env=pipeline_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_ledger_down_after_publish_leaves_the_run_to_the_next_one(
    tmp_path: Path, ledger: str
) -> None:
    config = _orders_config(tmp_path, ledger, "orders", crash_orders={"rows": ROWS, "version": 1})
    args = [DAY, "crash_orders", "truncate", str(config)]
    broken = run_pipeline(args, tmp_path, **JOBS_ENV, **{LEDGER_FAULT_ENV: "always"})
    assert broken.returncode == 75, broken.stderr  # transient: the scheduler retries
    assert "the ledger could not record it: run ledger unreachable" in broken.stderr
    assert _orders(tmp_path) == _clean_run(1)  # published
    [published] = ledger_runs(ledger)
    assert published.status == "running"

    # The next real run alone puts it right: it takes the lease over at once (the
    # holder is gone), and its cleansing finds the publisher in the warehouse fence.
    rerun = run_pipeline(args, tmp_path, **JOBS_ENV)
    assert rerun.returncode == 0, rerun.stderr
    assert "but its ledger record did not say so: recorded it as succeeded" in rerun.stderr
    published, rerun_run = ledger_runs(ledger)
    assert (published.status, published.exit_code) == ("succeeded", 0)
    assert (published.error or "").startswith(f"reconciled by run {rerun_run.run_id}: the ")
    assert "process died" in (published.error or "")  # what the ledger had, kept in the note
    assert rerun_run.status == "succeeded"
    assert rerun_run.metrics.get("runs_reconciled") == 1
    assert _orders(tmp_path) == _clean_run(1)

    listing = _etlctl_runs(config, tmp_path).splitlines()[1:]
    statuses = [re.search(r" (succeeded|failed|running) ", line) for line in listing]
    assert [m.group(1) if m else None for m in statuses] == ["succeeded", "succeeded"], listing
    assert "reconciled by run" in listing[1]
