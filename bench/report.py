"""Benchmark of ``etlctl report`` on a big ledger (by hand, not a test).

Writes a SQLite ledger of N runs (default 100,000) spread over 10 transfers, one run a
day each plus reruns and failures, three steps each, then times reading the history
and writing the page (the whole ``etlctl report`` minus config loading).
Target: under 5 s for 100k runs.

Usage: ``python bench/report.py [--runs 100000] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TRANSFERS = 10


def build_ledger(path: Path, runs: int) -> None:
    from etl_framework.state import RunStore

    store = RunStore(f"sqlite:///{path}")
    store.ensure_schema(True)
    store.close()
    first = dt.date(2000, 1, 1)
    started = dt.datetime(2020, 1, 1)
    run_rows, step_rows = [], []
    for i in range(runs):
        run_id = str(uuid.UUID(int=i))
        day = first + dt.timedelta(days=i // TRANSFERS)
        status = "failed" if i % 37 == 0 else "succeeded"
        begin = started + dt.timedelta(minutes=i)
        run_rows.append(
            (
                run_id,
                f"transfer_{i % TRANSFERS:02d}",
                day,
                "delta",
                day,
                day + dt.timedelta(days=1),
                status,
                begin,
                begin + dt.timedelta(seconds=5 + i % 50),
                1000 + i % 500,
                0 if status == "failed" else 1000 + i % 500,
                "ValueError: bad row <b>" if status == "failed" else None,
                1 if status == "failed" else 0,
                "1.0.0",
                "v1.0.0",
                "bench",
            )
        )
        for step in ("pre_execution_cleansing", "pipeline", "post_execution_cleanup"):
            step_rows.append((run_id, step, 1.5, "succeeded", 0, 0))
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO etl_runs (run_id, transfer, execution_date, mode, window_start,"
            " window_end, status, started_at, finished_at, rows_read, rows_written, error,"
            " exit_code, code_version, image_tag, host)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                tuple(v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v for v in row)
                for row in run_rows
            ],
        )
        conn.executemany(
            "INSERT INTO etl_run_steps (run_id, step, seconds, status, rows_read, rows_written)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            step_rows,
        )
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, default=None, help="Write the page here.")
    args = parser.parse_args()
    from etl_framework.report import read_history, write_report

    with tempfile.TemporaryDirectory() as tmp:
        ledger = Path(tmp) / "state.db"
        begin = time.perf_counter()
        build_ledger(ledger, args.runs)
        built = time.perf_counter() - begin
        begin = time.perf_counter()
        history = read_history(f"sqlite:///{ledger}")
        read = time.perf_counter() - begin
        begin = time.perf_counter()
        index = write_report(history, args.keep or Path(tmp) / "out")
        written = time.perf_counter() - begin
        pages = len(list(index.parent.glob("runs/*.html")))
    print(f"{'ledger runs':<28} {args.runs:>12,}")
    print(f"{'build ledger (not timed)':<28} {built:>11.2f}s")
    print(f"{'read history':<28} {read:>11.2f}s")
    print(f"{'write index + run pages':<28} {written:>11.2f}s  ({pages} run pages)")
    print(f"{'report total':<28} {read + written:>11.2f}s  (target < 5 s)")


if __name__ == "__main__":
    main()
