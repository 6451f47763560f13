"""``etlctl backfill``: JSON progress off a terminal, and a backfill killed with SIGKILL
mid-way that a rerun finishes doing only what was left."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from etl_framework.state import RunStore
from tests.support.pipeline import pipeline_env

ETLCTL = [sys.executable, "-c", "from etl_framework.admin import main; main()"]
DAYS = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(6)]


def _config(tmp_path: Path, sleep: float) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"state:\n  url: sqlite:///{tmp_path / 'state.db'}\n"
        f"transfers:\n  trace_job:\n    trace_dir: {tmp_path / 'trace'}\n"
        f"    sleep_seconds: {sleep}\n"
    )
    return path


def _backfill(tmp_path: Path, *args: str) -> list[str]:
    return [*ETLCTL, "backfill", str(tmp_path / "config.yaml"), "trace_job", *args]


def _succeeded(tmp_path: Path) -> Counter[dt.date]:
    store = RunStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        runs = store.runs("trace_job", limit=1000)
    finally:
        store.close()
    return Counter(r.window.start for r in runs if r.status == "succeeded")


def test_json_progress_and_only_missing(tmp_path: Path) -> None:
    _config(tmp_path, 0)
    first = subprocess.run(
        _backfill(tmp_path, "20240302", "20240303"),
        cwd=tmp_path, env=pipeline_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    events = [json.loads(line) for line in first.stdout.splitlines()]
    assert events[0] == {"event": "backfill", "transfer": "trace_job", "windows": 2}
    assert [(e["day"], e["status"], e["done"], e["total"]) for e in events[1:]] == [
        ("20240302", "succeeded", 1, 2),
        ("20240303", "succeeded", 2, 2),
    ]
    assert events[1]["rows_written"] == 3 and events[1]["run_id"]
    assert "2 succeeded, 0 failed, 0 not run" in first.stderr  # the summary table

    rest = subprocess.run(
        _backfill(tmp_path, "20240301", "20240306", "--only-missing", "--parallel", "2"),
        cwd=tmp_path, env=pipeline_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert rest.returncode == 0, rest.stderr
    done = [json.loads(line)["day"] for line in rest.stdout.splitlines()[1:]]
    assert sorted(done) == ["20240301", "20240304", "20240305", "20240306"]
    assert _succeeded(tmp_path) == Counter(DAYS)


def test_a_killed_backfill_resumes_with_only_what_is_left(tmp_path: Path) -> None:
    _config(tmp_path, 1.0)
    journal = tmp_path / "journal.jsonl"
    args = _backfill(tmp_path, "20240301", "20240306", "--journal", str(journal))
    process = subprocess.Popen(
        args, cwd=tmp_path, env=pipeline_env(), stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(3)]  # header + two windows done
    # Kill once the third window's run is in the ledger: killed earlier, its pipeline
    # could still be starting, take the lease after the check below and make the rerun's
    # window exit 4 ("leased by run ..."), which is right but not what this test is about.
    deadline = time.monotonic() + 60
    store = RunStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        while not any(r.status == "running" for r in store.runs("trace_job")):
            assert time.monotonic() < deadline, "the third window never started"
            time.sleep(0.05)
    finally:
        store.close()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()
    done_before = {json.loads(line)["day"] for line in lines[1:]}
    assert done_before == {"20240301", "20240302"}
    # the window in flight got SIGTERM (parent death signal): it ends, recorded failed
    deadline = time.monotonic() + 30
    store = RunStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        while any(r.status == "running" for r in store.runs("trace_job")):
            assert time.monotonic() < deadline, "the orphaned window never ended"
            time.sleep(0.2)
    finally:
        store.close()

    rerun = subprocess.run(
        args, cwd=tmp_path, env=pipeline_env(), capture_output=True, text=True, timeout=120
    )
    assert rerun.returncode == 0, rerun.stderr
    events = [json.loads(line) for line in rerun.stdout.splitlines()]
    rerun_days = {e["day"] for e in events[1:]}
    assert rerun_days.isdisjoint(done_before)
    assert rerun_days | done_before == {f"{d:%Y%m%d}" for d in DAYS}
    assert _succeeded(tmp_path) == Counter(DAYS)  # each day succeeded exactly once
    assert "already done" in rerun.stderr

    again = subprocess.run(
        args, cwd=tmp_path, env=pipeline_env(), capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0 and again.stdout.splitlines()[1:] == []
    assert _succeeded(tmp_path) == Counter(DAYS)
