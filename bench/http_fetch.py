"""Benchmark: an HTTP transfer with next-URL pagination, end to end vs its two halves.

The test API (``tests/support/hawk_server.py``) runs in its own process, pinned to
the last CPU while this process is pinned to the others (``sched_setaffinity``,
like ``taskset``), and serves ``--pages`` pages of 1,000 OMIS-like records (~350 KB
a page) over 60 days of ``modified_on``, with ``--latency`` (20 ms) per page and
``next`` links. A delta run over those 60 days with ``concurrency`` C splits them
into C date sub-windows fetched side by side. Measured (median of ``--rounds``,
interleaved, so load from other processes hits every scenario alike):

* fetch only: ``HttpSource.pages()`` of the window, unsigned and Hawk-signed (every
  response verified), at the same concurrency;
* load only: the ``omis_dataset`` delta (merge) into PostgreSQL from the same
  records already in memory;
* end to end: the ``omis_dataset`` delta, Hawk-signed, fetching and loading.

Each line also shows this process's CPU seconds (all threads; with one client CPU,
end to end cannot take less than its CPU, whatever overlaps) and, from
``HttpSource.waits``, how long the loader waited for pages and the fetchers for room
in the queue: which half bounds the run.

Usage: ``python bench/http_fetch.py [--pages 60] [--latency 0.02] [--concurrency 4]``.
The last lines are ``pipelined/max(fetch,load): R`` (end-to-end rows/s over the rows/s
of the slower half; 1.0 is perfect overlap) and ``hawk/unsigned: R`` (fetch-only
rows/s, Hawk over unsigned).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGE_SIZE = 1000
RECORD_PAD = 60  # characters of notes: ~350 bytes a record, ~350 KB a page


def _serve(conn: Any, records: int, latency: float, hawk: bool) -> None:
    from tests.support.hawk_server import HawkTestServer, make_records

    server = HawkTestServer(
        make_records(records, pad=RECORD_PAD),
        page_size=PAGE_SIZE,
        latency=latency,
        require_hawk=hawk,
        cache_bodies=True,
    ).start()
    conn.send(server.url)
    while conn.recv() != "stop":  # "cpu": how much CPU the server has used so far
        conn.send(server.cpu_seconds)
    server.stop()


class Server:
    """The test API in a child process."""

    def __init__(self, records: int, latency: float, *, hawk: bool) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, records, latency, hawk), daemon=True)
        self._proc.start()
        self.url: str = self._conn.recv()

    def cpu_seconds(self) -> float:
        self._conn.send("cpu")
        return float(self._conn.recv())

    def close(self) -> None:
        self._conn.send("stop")
        self._proc.join(10)


FIRST = dt.date(2024, 1, 1)
LAST = FIRST + dt.timedelta(days=59)  # make_records spreads modified_on over 60 days
WINDOW_PARAMS = {"start": "modified_on__gte", "end": "modified_on__lt"}


def pin(*servers: Server) -> str:
    """Servers on the last CPU, us on the rest; a description of what was done."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2:
        return "not pinned (one CPU)"
    for server in servers:
        os.sched_setaffinity(server._proc.pid, {cpus[-1]})  # type: ignore[arg-type]
    os.sched_setaffinity(0, set(cpus[:-1]))
    return f"servers on CPU {cpus[-1]}, client on {cpus[:-1]}"


def source_config(concurrency: int) -> dict[str, Any]:
    return {
        "connection": "datahub",
        "path": "v4/dataset/omis-dataset",
        "pagination": {"type": "next_url"},
        "params": {"page_size": str(PAGE_SIZE)},
        "window_params": WINDOW_PARAMS,
        "concurrency": concurrency,
    }


def fetch_only(url: str, concurrency: int, *, hawk: bool) -> int:
    from etl_framework.connectors.http import HttpConfig, HttpConnector
    from etl_framework.http.config import HttpSourceConfig
    from etl_framework.sources.http import HttpSource
    from etl_framework.window import Window
    from tests.support.hawk_server import HAWK_ID, HAWK_KEY

    raw: dict[str, Any] = {"type": "http", "base_url": url}
    if hawk:
        raw["auth"] = {"type": "hawk", "id": HAWK_ID, "key": HAWK_KEY}
    connector = HttpConnector("datahub", HttpConfig.model_validate(raw)).open()
    try:
        source = HttpSource(
            connector,
            HttpSourceConfig.model_validate(source_config(concurrency)),
            window=Window.for_days(FIRST, LAST),
        )
        return sum(len(page.records) for page in source.pages())
    finally:
        connector.close()


def write_config(tmp: Path, url: str, db_url: str, concurrency: int) -> Path:
    import yaml

    from tests.support.hawk_server import HAWK_ID, HAWK_KEY

    config = {
        "state": {"url": f"sqlite:///{tmp}/state.db"},
        "logging": {"format": "text", "level": "WARNING"},
        "connections": {
            "datahub": {
                "type": "http",
                "base_url": url,
                "auth": {"type": "hawk", "id": HAWK_ID, "key": HAWK_KEY},
            },
            "warehouse": {"type": "sql", "url": db_url},
        },
        "transfers": {"omis_dataset": {"source": source_config(concurrency)}},
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def transfer(config: Path, records: list[dict[str, Any]] | None = None) -> int:
    """The omis_dataset delta over the 60 days; from ``records`` instead of the API
    when given (load only)."""
    from etl_framework.runner import run_transfer
    from jobs.omis_dataset import OmisDatasetJob

    original = OmisDatasetJob.source
    if records is not None:
        OmisDatasetJob.source = lambda self: iter(records)  # type: ignore[method-assign]
    try:
        summary = run_transfer("omis_dataset", LAST.strftime("%Y%m%d"), "delta", str(config), FIRST)
    finally:
        OmisDatasetJob.source = original  # type: ignore[method-assign]
    assert summary.succeeded, summary.error
    return summary.rows_written


class QueueWaits(logging.Handler):
    """The last ``HttpSource.pages`` DEBUG line: (loader waited, fetchers waited) s."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.last: tuple[float, float] | None = None
        logger = logging.getLogger("etl_framework.http")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False  # not onto the run's console handler
        logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        if "the loader waited" in str(record.msg):
            args = record.args
            assert isinstance(args, tuple)
            self.last = (float(str(args[1])), float(str(args[2])))

    def take(self) -> tuple[float, float] | None:
        last, self.last = self.last, None
        return last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = args.pages * PAGE_SIZE
    plain = Server(rows, args.latency, hawk=False)
    hawk = Server(rows, args.latency, hawk=True)
    from tests.services.postgres import create_database, postgres_server
    from tests.support.hawk_server import make_records

    try:
        pinned = pin(plain, hawk)
        records = make_records(rows, pad=60)
        with postgres_server() as server_url, tempfile.TemporaryDirectory() as tmpdir:
            config = write_config(
                Path(tmpdir), hawk.url, create_database(server_url), args.concurrency
            )
            transfer(config)  # warm up: the target exists, later runs update every row
            scenarios: dict[str, Callable[[], int]] = {
                "fetch only, unsigned": lambda: fetch_only(plain.url, args.concurrency, hawk=False),
                "fetch only, hawk + verify": lambda: fetch_only(
                    hawk.url, args.concurrency, hawk=True
                ),
                "load only (records in memory)": lambda: transfer(config, records),
                "end to end, hawk + verify": lambda: transfer(config),
            }
            seconds: dict[str, list[float]] = {label: [] for label in scenarios}
            cpu_seconds: dict[str, list[float]] = {label: [] for label in scenarios}
            waited: dict[str, list[tuple[float, float]]] = {label: [] for label in scenarios}
            queue_waits = QueueWaits()
            for _ in range(args.rounds):
                for label, func in scenarios.items():
                    started, cpu = time.perf_counter(), time.process_time()
                    got = func()
                    seconds[label].append(time.perf_counter() - started)
                    cpu_seconds[label].append(time.process_time() - cpu)
                    taken = queue_waits.take()
                    if taken is not None:
                        waited[label].append(taken)
                    assert got == rows, f"{label}: {got} rows, expected {rows}"
        print(
            f"{args.pages} next-URL pages of {PAGE_SIZE} records, {args.latency * 1000:.0f} ms "
            f"latency, concurrency {args.concurrency} (date sub-windows), "
            f"median of {args.rounds}; {pinned}"
        )
        rate = {}
        cpu_median = {}
        for label, runs in seconds.items():
            median = statistics.median(runs)
            rate[label] = rows / median
            cpu_median[label] = statistics.median(cpu_seconds[label])
            spread = ", ".join(f"{s:.2f}" for s in runs)
            print(
                f"{label:<34} {rate[label]:9.0f} rows/s  ({median:.2f} s; runs {spread}; "
                f"client CPU {cpu_median[label]:.2f} s)"
            )
            if waited[label]:
                loader = statistics.median(w for w, _ in waited[label])
                fetchers = statistics.median(w for _, w in waited[label])
                print(
                    f"{'':<34} queue: the loader waited {loader:.2f} s for pages, "
                    f"the fetchers {fetchers:.2f} s for the loader"
                )
    finally:
        plain.close()
        hawk.close()
    slower = min(rate["fetch only, hawk + verify"], rate["load only (records in memory)"])
    print(f"pipelined/max(fetch,load): {rate['end to end, hawk + verify'] / slower:.2f}")
    print(f"hawk/unsigned: {rate['fetch only, hawk + verify'] / rate['fetch only, unsigned']:.2f}")


if __name__ == "__main__":
    main()
