"""Benchmark: the fixed cost of one run, a one-day delta of 5,000 rows into PostgreSQL.

A throw-away PostgreSQL holds a 150,000-row table of 30 days (bench/load_postgres.py's
rows and table). Each measurement is a fresh process, launched by this one:

* ``framework``: ``pipeline 20240106 fc_delta delta CONFIG`` (the CLI's ``main``) of a
  `TableTransferJob` with ``replace_window`` on ``created_at``, the ledger in the same
  PostgreSQL (leases, fence, staging records); the source notes when it hands out its
  first and last row;
* ``raw``: psycopg 3 connects, deletes the day and COPYs its rows in one transaction.

Printed (median of ``--repeat`` interleaved runs): process start -> first row, last
row -> exit, total, and the raw code's total; the largest peak RSS of each side (the
whole ``pipeline`` process: config, ledger, leases and the load). The last line is
``delta_overhead_ms: M`` (framework total minus raw total).

Usage: ``python bench/fixed_cost.py [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

TABLE = "fc"
ROWS = 150_000
DAY = 5  # 2024-01-06: ids 25,000 .. 29,999
EXECUTION_DATE = "20240106"


def peak_rss_mb() -> float:
    """This process's peak RSS since its exec (``VmHWM``; ``ru_maxrss`` would count the
    launching process too: it survives the exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_framework(config: str, marks: str) -> None:
    """``pipeline`` as its console script runs it; the job module is imported inside."""
    os.environ["ETL_JOBS_MODULES"] = "fixed_cost_job"
    from etl_framework.cli import main

    sys.argv = ["pipeline", EXECUTION_DATE, "fc_delta", "delta", config]
    try:
        main()
    except SystemExit as exc:
        times = sys.modules["fixed_cost_job"].times
        Path(marks).write_text(json.dumps({**times, "code": exc.code, "rss": peak_rss_mb()}))
        raise


def child_raw(url: str, marks: str) -> None:
    from operator import itemgetter

    import psycopg
    from load_postgres import COLUMNS, generate

    get = itemgetter(*COLUMNS)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute(
            f"DELETE FROM {TABLE} WHERE created_at >= '2024-01-06' AND created_at < '2024-01-07'"
        )
        with conn.cursor().copy(f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for record in generate(ROWS, day=DAY, version=1):
                copy.write_row(get(record))
    Path(marks).write_text(json.dumps({"rss": peak_rss_mb()}))


def run(args: list[str]) -> tuple[float, float]:
    """(launch time, exit time) of one child process."""
    started = time.time()
    subprocess.run([sys.executable, __file__, *args], check=True)
    return started, time.time()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        child_framework(*rest) if kind == "framework" else child_raw(*rest)
        return

    import compileall

    import yaml
    from load_postgres import _reset

    # byte-code as an installed package has it (pip and the image's Dockerfile compile
    # it): under PYTHONDONTWRITEBYTECODE every child would compile the checkout anew
    for folder in ("etl_framework", "bench"):
        compileall.compile_dir(REPO / folder, quiet=1)

    from etl_framework.state.store import RunStore
    from tests.services.postgres import create_database, postgres_server

    with postgres_server() as server_url, tempfile.TemporaryDirectory() as tmp:
        url = create_database(server_url)
        _reset(url, TABLE, fill=ROWS, days=30)
        store = RunStore(url)
        store.upgrade()
        store.close()
        config = Path(tmp) / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "state": {"url": url},
                    "logging": {"format": "text", "level": "WARNING"},
                    "connections": {"warehouse": {"type": "sql", "url": url}},
                }
            )
        )
        marks = Path(tmp) / "marks.json"
        framework: list[dict[str, float]] = []
        raw: list[float] = []
        raw_rss: list[float] = []
        for _ in range(args.repeat):
            launched, exited = run(["--child", "framework", str(config), str(marks)])
            m = json.loads(marks.read_text())
            assert m["code"] in (0, None), m
            framework.append(
                {
                    "to_first_row": m["first_row"] - launched,
                    "rows": m["last_row"] - m["first_row"],
                    "after_last_row": exited - m["last_row"],
                    "total": exited - launched,
                    "rss": m["rss"],
                }
            )
            launched, exited = run(["--child", "raw", url, str(marks)])
            raw.append(exited - launched)
            raw_rss.append(json.loads(marks.read_text())["rss"])

    def med(key: str) -> float:
        return statistics.median(f[key] for f in framework) * 1000

    raw_ms = statistics.median(raw) * 1000
    print(f"one-day delta of 5,000 rows (of {ROWS:,}), median of {args.repeat}, in ms:")
    print(f"framework: start -> first row {med('to_first_row'):6.0f}")
    print(f"           rows               {med('rows'):6.0f}")
    print(f"           last row -> exit   {med('after_last_row'):6.0f}")
    print(f"           total              {med('total'):6.0f}")
    print(f"raw psycopg total             {raw_ms:6.0f}")
    framework_rss = max(f["rss"] for f in framework)
    print(f"peak RSS, MB: framework {framework_rss:.0f} (whole process), raw {max(raw_rss):.0f}")
    print(f"delta_overhead_ms: {med('total') - raw_ms:.0f}")


if __name__ == "__main__":
    main()
