"""Benchmark: loading a Python generator into PostgreSQL, each strategy against the
hand-written psycopg 3 code that does the same job, side by side.

Rows: id bigint, uuid text(36), name text(20), qty int, score float, amount
numeric(12,2), created_at timestamptz, note text (NULL every 10th row), produced
by a Python generator of dicts (the same generator for every method).

Methods (each in its own process, so peak RSS is its own), framework / same-job raw:

- ``truncate``         ReplaceTableStrategy into an empty target (loaded directly)
  / ``raw_copy``       binary COPY into the empty table
- ``replace``          the same, replacing a target that holds N rows (staging, publish
  DELETE + INSERT SELECT in one transaction)
  / ``raw_replace``    CREATE UNLOGGED staging, COPY into it, one transaction DELETE
  target + INSERT SELECT, DROP staging
- ``replace_truncate`` the same with ``method="truncate"``
  / ``raw_truncate``   as raw_replace with TRUNCATE instead of DELETE
- ``direct``           the same with ``direct=True`` (no staging, one transaction)
  / ``raw_delete_copy`` one transaction: DELETE target + COPY into it
- ``merge``            MergeStrategy of N rows onto a target holding them (all updates)
  / ``raw_upsert``     staging as raw_replace, ``INSERT ... ON CONFLICT DO UPDATE``
- ``delta``            ReplaceWindowStrategy, one day's window out of 30 (N/30 rows)
  / ``raw_delta``      one transaction: DELETE the day + COPY its rows
- ``delta_direct``     the same with ``direct=True``
- ``pandas``           pandas.DataFrame.to_sql (chunksize 10,000), only when asked
- ``dlt``              dlt pipeline, write_disposition="replace", only when asked

Every framework method imports its modules before the clock starts (as in a
long-running job); the clock covers the strategy's whole job (staging DDL, load,
guards, publish, clean-up) and the raw code's whole job. Each method's table is
prepared (and a CHECKPOINT taken) before the clock starts.

Run (starts a throw-away PostgreSQL with the Debian server binaries)::

    python bench/load_postgres.py --rows 1000000 --repeat 3 [--scaling]

pandas and dlt are bench-only (``--methods ...,pandas,dlt``): a method whose package
is missing is reported as skipped. ``--scaling`` adds truncate runs at 100k / 1M / 4M
rows for peak RSS; ``--delta-scaling 1000000,10000000`` times a one-day delta (33,333
rows) on targets of those sizes. ``--repeat 3`` interleaves three rounds and reports
the median (shared hosts are noisy).

Peak RSS is measured per method in its own child process (the child's ``VmHWM``).

The last lines are one ratio of rows/s per strategy, framework / same-job raw code::

    replace_truncate/raw_truncate: R
    delta_direct/raw_delta: R
    truncate/raw_copy: R
    replace/raw_replace: R
    direct/raw_delete_copy: R
    merge/raw_upsert: R
    delta_overhead_ms: M      (median delta seconds minus median raw_delta, in ms)
    peak_rss_mb: X            (the largest peak RSS of the truncate runs)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DAYS = 30
FIRST_DAY = dt.date(2024, 1, 1)
COLUMNS = ("id", "uuid", "name", "qty", "score", "amount", "created_at", "note")
DDL = (
    "CREATE TABLE {table} (id bigint PRIMARY KEY, uuid text, name text, qty integer, "
    "score double precision, amount numeric(12,2), created_at timestamptz, note text)"
)
METHODS = (
    "raw_copy",
    "truncate",
    "raw_replace",
    "replace",
    "raw_truncate",
    "replace_truncate",
    "raw_delete_copy",
    "direct",
    "raw_upsert",
    "merge",
    "raw_delta",
    "delta",
    "delta_direct",
)
OPTIONAL = ("pandas", "dlt")
PAIRS = (
    ("replace_truncate", "raw_truncate"),
    ("delta_direct", "raw_delta"),
    ("truncate", "raw_copy"),
    ("replace", "raw_replace"),
    ("direct", "raw_delete_copy"),
    ("merge", "raw_upsert"),
)
FRAMEWORK = ("truncate", "replace", "replace_truncate", "direct", "merge", "delta", "delta_direct")


def mapping() -> Any:
    from etl_framework.mapping import FieldMapping

    return FieldMapping.from_tuples(
        [
            ("id", "id", "bigint primary key"),
            ("uuid", "uuid", "text"),
            ("name", "name", "text"),
            ("qty", "qty", "integer"),
            ("score", "score", "double precision"),
            ("amount", "amount", "numeric(12,2)"),
            ("created_at", "created_at", "timestamptz"),
            ("note", "note", "text"),
        ]
    )


def generate(
    rows: int, day: int | None = None, version: int = 0, days: int = DAYS
) -> Iterator[dict[str, Any]]:
    """Records spread over ``days`` days in order; ``day`` keeps only that day's rows."""
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    uuid4 = uuid.uuid4
    # days are contiguous, as in a table filled day by day; a day's ids are one range
    ids = (
        range(rows) if day is None else range(-(-day * rows // days), -(-(day + 1) * rows // days))
    )
    for i in ids:
        d = i * days // rows
        yield {
            "id": i,
            "uuid": str(uuid4()),
            "name": f"customer-{i:011d}",
            "qty": i % 1000 + version,
            "score": i * 0.5,
            "amount": Decimal(i % 100000) / 100,
            "created_at": base + dt.timedelta(days=d, seconds=i % 86400),
            "note": None if i % 10 == 3 else "note",
        }


# --- workers (run in a child process) --------------------------------------------


def _connector(url: str) -> Any:
    from etl_framework.connectors.sql import SqlConfig, SqlConnector

    return SqlConnector("bench", SqlConfig(url=url)).open()  # type: ignore[arg-type]


def _reset(url: str, table: str, fill: int = 0, days: int = DAYS) -> None:
    """A fresh target, optionally holding ``fill`` rows (loaded by raw COPY)."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(DDL.format(table=table))
        conn.execute(f"CREATE INDEX {table}_created_ix ON {table} (created_at)")
        if fill:
            _raw_copy(conn, table, generate(fill, days=days))
        conn.execute(f"VACUUM ANALYZE {table}")
        # the previous method's writes are flushed now, not by a checkpoint that would
        # land in this method's timed load
        conn.execute("CHECKPOINT")


def _raw_copy(conn: Any, table: str, records: Iterator[dict[str, Any]]) -> int:
    from operator import itemgetter

    get = itemgetter(*COLUMNS)
    count = 0
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(["int8", "text", "text", "int4", "float8", "numeric", "timestamptz", "text"])
        for record in records:
            copy.write_row(get(record))
            count += 1
    return count


def _raw_staged(dsn: str, table: str, records: Iterator[dict[str, Any]], publish: str) -> int:
    """Raw code of a staged publish: COPY into an UNLOGGED staging table, then one
    transaction of ``publish`` (statements, ``{t}`` target, ``{s}`` staging)."""
    import psycopg

    staging = f"_stg_{table}_raw"
    cols = ", ".join(COLUMNS)
    with psycopg.connect(dsn) as conn:
        conn.execute(f"CREATE UNLOGGED TABLE {staging} (LIKE {table} INCLUDING DEFAULTS)")
        conn.commit()
        count = _raw_copy(conn, staging, records)
        conn.commit()
        for statement in publish.split(";"):
            conn.execute(statement.format(t=table, s=staging, c=cols))
        conn.commit()
        conn.execute(f"DROP TABLE {staging}")
        conn.commit()
    return count


_UPDATES = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "id")
RAW_PUBLISH = {
    "raw_replace": "DELETE FROM {t}; INSERT INTO {t} ({c}) SELECT {c} FROM {s}",
    "raw_truncate": "TRUNCATE {t}; INSERT INTO {t} ({c}) SELECT {c} FROM {s}",
    "raw_upsert": "INSERT INTO {t} ({c}) SELECT {c} FROM {s} ON CONFLICT (id) DO UPDATE SET "
    + _UPDATES.replace("{", "{{").replace("}", "}}"),
}


def worker(method: str, url: str, rows: int, days: int = DAYS) -> dict[str, Any]:
    """Prepare (untimed), then time one load. Returns rows and seconds."""
    table = "bench_target"
    day = days // 2
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    if method in FRAMEWORK:
        # imported before the clock starts, as in a long-running job (and as the raw
        # code's psycopg): the strategies, the connector and SQLAlchemy's dialect
        import sqlalchemy.dialects.postgresql.psycopg

        import etl_framework.connectors.sql
        import etl_framework.load.sql.merge
        import etl_framework.load.sql.replace_table
        import etl_framework.load.sql.replace_window  # noqa: F401
    if method in ("raw_copy", "truncate", "pandas"):
        _reset(url, table)
    elif method != "dlt":
        _reset(url, table, fill=rows, days=days)
    first = FIRST_DAY + dt.timedelta(days=day)
    started = time.perf_counter()
    if method in ("raw_copy", "raw_delete_copy", "raw_delta"):
        import psycopg

        with psycopg.connect(dsn) as conn:
            if method == "raw_delete_copy":
                conn.execute(f"DELETE FROM {table}")
                records = generate(rows, version=1)
            elif method == "raw_delta":
                conn.execute(
                    f"DELETE FROM {table} WHERE created_at >= %s AND created_at < %s",
                    (
                        dt.datetime.combine(first, dt.time(), dt.UTC),
                        dt.datetime.combine(first + dt.timedelta(1), dt.time(), dt.UTC),
                    ),
                )
                records = generate(rows, day=day, version=1, days=days)
            else:
                records = generate(rows)
            count = _raw_copy(conn, table, records)
            conn.commit()
    elif method in RAW_PUBLISH:
        count = _raw_staged(dsn, table, generate(rows, version=1), RAW_PUBLISH[method])
    elif method in FRAMEWORK:
        from etl_framework.load.sql.merge import MergeStrategy
        from etl_framework.load.sql.replace_table import ReplaceTableStrategy
        from etl_framework.load.sql.replace_window import ReplaceWindowStrategy
        from etl_framework.window import Window

        c = _connector(url)
        m = mapping()
        records = generate(rows, version=1)
        direct = method.endswith("direct")
        if method.startswith("delta"):
            strategy: Any = ReplaceWindowStrategy(
                c,
                table,
                m,
                run_id="benchrun",
                window=Window(first, first + dt.timedelta(1)),
                window_column="created_at",
                direct=direct,
            )
            records = generate(rows, day=day, version=1, days=days)
        elif method == "merge":
            strategy = MergeStrategy(c, table, m, run_id="benchrun")
        else:
            replace_method = "truncate" if method == "replace_truncate" else "delete"
            strategy = ReplaceTableStrategy(
                c, table, m, run_id="benchrun", direct=direct, method=replace_method
            )
        strategy.drop_stale_staging()
        try:
            count = strategy.write(m.rows(records)).inserted
        finally:
            strategy.drop_staging()
            c.close()
    elif method == "pandas":
        import pandas as pd
        import sqlalchemy as sa

        engine = sa.create_engine(url)
        frame = pd.DataFrame.from_records(generate(rows), columns=list(COLUMNS))
        with engine.begin() as conn:
            frame.to_sql(
                table,
                conn,
                if_exists="append",
                index=False,
                chunksize=10_000,
                dtype={"amount": sa.Numeric(12, 2)},
            )
        count = len(frame)
        engine.dispose()
    elif method == "dlt":
        import dlt

        # trust authentication ignores the password; dlt insists on one
        dsn = url.replace("postgresql+psycopg://postgres@", "postgresql://postgres:x@")
        pipeline = dlt.pipeline(
            pipeline_name="bench",
            destination=dlt.destinations.postgres(credentials=dsn),
            dataset_name="bench_dlt",
            pipelines_dir=str(Path(os.environ.get("TMPDIR", "/tmp")) / "etl-bench-dlt"),
        )
        info = pipeline.run(generate(rows), table_name=table, write_disposition="replace")
        info.raise_on_failed_jobs()
        count = rows
    else:
        raise SystemExit(f"unknown method {method}")
    seconds = time.perf_counter() - started
    # VmHWM, the peak since this process's exec (ru_maxrss survives the exec and would
    # count the launching process when it is larger)
    status = Path("/proc/self/status").read_text().splitlines()
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return {"method": method, "rows": count, "seconds": seconds, "peak_rss_mb": peak_kb / 1024}


# --- driver ---------------------------------------------------------------------------


def _median(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median rows/s (errors win: a failure is reported)."""
    for r in results:
        if "error" in r:
            return r
    ordered = sorted(results, key=lambda r: r["rows"] / r["seconds"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["peak_rss_mb"] = max(r["peak_rss_mb"] for r in results)
    return chosen


def run_worker(method: str, url: str, rows: int, days: int = DAYS) -> dict[str, Any]:
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--worker",
            method,
            "--url",
            url,
            "--rows",
            str(rows),
            "--days",
            str(days),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"method": method, "rows": rows, "error": last}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def available(method: str) -> bool:
    import importlib.util

    module = {"pandas": "pandas", "dlt": "dlt"}.get(method)
    return module is None or importlib.util.find_spec(module) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--scaling", action="store_true", help="truncate at 100k/1M/4M rows")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run the methods this many times, interleaved; report the median (noisy hosts)",
    )
    parser.add_argument(
        "--delta-scaling",
        default="",
        help="target sizes (e.g. 1000000,10000000) for a one-day delta of 33,333 rows",
    )
    parser.add_argument("--days", type=int, default=DAYS, help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.url, args.rows, args.days)))
        return

    from tests.services.postgres import postgres_server

    print(
        f"# {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
        f"load average {os.getloadavg()[0]:.1f}, median of {args.repeat} interleaved run(s)"
    )
    with postgres_server() as url:
        runs: dict[str, list[dict[str, Any]]] = {}
        methods = args.methods.split(",")
        for _round in range(args.repeat):
            for method in methods:
                if not available(method):
                    runs[method] = [{"method": method, "rows": args.rows, "error": "not installed"}]
                    continue
                print(f"# running {method} ...", file=sys.stderr, flush=True)
                runs.setdefault(method, []).append(run_worker(method, url, args.rows))
        results = [_median(runs[m]) for m in methods]
        delta_scaling = []
        for size in filter(None, args.delta_scaling.split(",")):
            n = int(size)
            print(f"# delta on a {n:,}-row target ...", file=sys.stderr, flush=True)
            result = run_worker("delta", url, n, days=max(1, n // 33_333))
            result["target_rows"] = n
            delta_scaling.append(result)
        scaling = []
        if args.scaling:
            for n in (100_000, 1_000_000, 4_000_000):
                print(f"# scaling truncate {n:,} ...", file=sys.stderr, flush=True)
                scaling.append(run_worker("truncate", url, n))
    by_method = {r["method"]: r for r in results if "error" not in r}
    raw_of = {f: r for f, r in PAIRS} | {"delta": "raw_delta"}

    def rate(method: str) -> float | None:
        r = by_method.get(method)
        return r["rows"] / r["seconds"] if r else None

    print(
        f"\n{'method':<18}{'rows':>11}{'seconds':>10}{'rows/s':>12}{'x same-job raw':>16}"
        f"{'peak RSS MB':>13}"
    )
    for r in results:
        if "error" in r:
            print(f"{r['method']:<18}{r['rows']:>11,}  skipped: {r['error']}")
            continue
        own = rate(r["method"])
        raw_rate = rate(raw_of.get(r["method"], ""))
        ratio = f"{own / raw_rate:.2f}" if own and raw_rate else "-"
        print(
            f"{r['method']:<18}{r['rows']:>11,}{r['seconds']:>10.2f}{own:>12,.0f}{ratio:>16}"
            f"{r['peak_rss_mb']:>13.0f}"
        )
    if scaling:
        print("\nscaling (truncate)")
        for r in scaling:
            if "error" in r:
                print(f"{r['rows']:>11,}  failed: {r['error']}")
            else:
                print(
                    f"{r['rows']:>11,} rows  {r['rows'] / r['seconds']:>10,.0f} rows/s  "
                    f"peak RSS {r['peak_rss_mb']:.0f} MB"
                )
    if delta_scaling:
        print("\ndelta of one day (33,333 rows) by target size")
        for r in delta_scaling:
            if "error" in r:
                print(f"{r['target_rows']:>11,}-row target  failed: {r['error']}")
            else:
                print(
                    f"{r['target_rows']:>11,}-row target  {r['seconds']:6.2f} s  "
                    f"({r['rows']:,} rows replaced)"
                )
    print()
    for framework, raw in PAIRS:
        own, base = rate(framework), rate(raw)
        print(f"{framework}/{raw}: " + (f"{own / base:.2f}" if own and base else "n/a"))
    delta, raw_delta = by_method.get("delta"), by_method.get("raw_delta")
    if delta and raw_delta:
        print(f"delta_overhead_ms: {(delta['seconds'] - raw_delta['seconds']) * 1000:.0f}")
    else:
        print("delta_overhead_ms: n/a")
    peaks = [
        r["peak_rss_mb"] for r in [by_method.get("truncate"), *scaling] if r and "error" not in r
    ]
    print(f"peak_rss_mb: {max(peaks):.0f}" if peaks else "peak_rss_mb: n/a")


if __name__ == "__main__":
    main()
