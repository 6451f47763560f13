"""Benchmark of HTTP page fetching (by hand, not a test).

A local API (``tests/support/hawk_server.py``, in its own process so it does not
share our GIL) serves 1,000-record pages of ~350 KB with ~20 ms latency. We
measure pages/s for:

* a plain sequential ``requests`` loop with ``json`` (the baseline),
* `HttpSource` sequential and with 8 workers, unsigned,
* the same Hawk-signed with every response verified,
* Hawk with mohawk hashing the body as ``bytes`` (mohawk 1.1.0's slow path),
* peak Python memory (tracemalloc) of a concurrent fetch of N and 3N pages,
* end to end rows/s into PostgreSQL through the ``omis_dataset`` transfer
  (``--postgres``; starts a throwaway server with tests/services/postgres.py).

Usage: ``python bench/http_fetch.py [--pages 120] [--latency 0.02] [--postgres]``.
The last line is ``concurrent/sequential: R`` (unsigned pages/s, 8 workers vs 1).
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import sys
import time
import tracemalloc
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


def _source(url: str, *, concurrency: int, hawk: bool) -> Any:
    from etl_framework.connectors.http import HttpConfig, HttpConnector
    from etl_framework.http.config import HttpSourceConfig
    from etl_framework.sources.http import HttpSource
    from tests.support.hawk_server import DATASET_PATH, HAWK_ID, HAWK_KEY

    raw: dict[str, Any] = {"type": "http", "base_url": url}
    if hawk:
        raw["auth"] = {"type": "hawk", "id": HAWK_ID, "key": HAWK_KEY}
    connector = HttpConnector("bench", HttpConfig.model_validate(raw)).open()
    config = HttpSourceConfig(
        connection="bench",
        path=DATASET_PATH,
        pagination={  # type: ignore[arg-type]
            "type": "page_number",
            "page_size": PAGE_SIZE,
            "page_size_param": "page_size",
            "total_path": "count",
        },
        concurrency=concurrency,
    )
    return HttpSource(connector, config)


def _bytes_content(body: bytes | str | None) -> Any:
    """What mohawk gets when handed the body itself (its pprint-logging slow path)."""
    return body or b""


def hawk_cost() -> tuple[float, float, float]:
    """Client CPU ms per page of Hawk alone: sign a GET, verify a ~350 KB response;
    and mohawk's slow path (hashing the body as bytes) for comparison."""
    from mohawk import Receiver, Sender

    from etl_framework.http.auth import hashable_content
    from tests.support.hawk_server import HAWK_ID, HAWK_KEY, make_records

    body = json.dumps({"results": make_records(PAGE_SIZE, pad=RECORD_PAD)}).encode()
    creds = {"id": HAWK_ID, "key": HAWK_KEY, "algorithm": "sha256"}
    url = "http://127.0.0.1:8000/v4/dataset/omis-dataset?page=2"
    rounds = 30

    def sign() -> Any:
        return Sender(dict(creds), url, "GET", content=hashable_content(b""), content_type="")

    started = time.process_time()
    for _ in range(rounds):
        sender = sign()
    signing = (time.process_time() - started) / rounds * 1000
    receiver = Receiver(
        lambda _id: creds,
        sender.request_header,
        url,
        "GET",
        content=hashable_content(b""),
        content_type="",
        seen_nonce=lambda *_: False,
    )
    header = receiver.respond(content=hashable_content(body), content_type="application/json")
    started = time.process_time()
    for _ in range(rounds):
        sender.accept_response(
            header, content=hashable_content(body), content_type="application/json"
        )
    verifying = (time.process_time() - started) / rounds * 1000
    started = time.process_time()
    for _ in range(5):
        sender.accept_response(header, content=body, content_type="application/json")
    slow = (time.process_time() - started) / 5 * 1000
    return signing, verifying, slow


def plain_loop(url: str, pages: int) -> int:
    import requests

    from tests.support.hawk_server import DATASET_PATH

    rows = 0
    with requests.Session() as session:
        for page in range(1, pages + 1):
            response = session.get(
                url + DATASET_PATH.lstrip("/"),
                params={"page": page, "page_size": PAGE_SIZE},
                timeout=30,
            )
            response.raise_for_status()
            rows += len(json.loads(response.content)["results"])
    return rows


def measure(pages: int, func: Callable[[], int]) -> tuple[float, float]:
    """(pages/s, client CPU ms per page) of one run of ``func``."""
    gc.collect()
    started = time.perf_counter()
    cpu = time.process_time()
    rows = func()
    cpu = time.process_time() - cpu
    seconds = time.perf_counter() - started
    assert rows == pages * PAGE_SIZE, f"read {rows} rows, expected {pages * PAGE_SIZE}"
    return pages / seconds, cpu / pages * 1000


def report(label: str, runs: list[tuple[float, float]]) -> float:
    """Print the best of the runs (least disturbed by other load); return its pages/s."""
    rate, cpu = max(runs)
    spread = ", ".join(f"{r:.0f}" for r, _ in runs)
    print(
        f"{label:<44} {rate:7.1f} pages/s {rate * PAGE_SIZE:9.0f} rows/s  "
        f"client CPU {cpu:5.1f} ms/page  (runs: {spread})"
    )
    return rate


def count_rows(source: Any) -> int:
    return sum(len(page.records) for page in source.pages())


def peak_memory(url: str, pages: int) -> float:
    gc.collect()
    tracemalloc.start()
    source = _source(url, concurrency=8, hawk=False)
    _first_pages(source, pages)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    source.connector.close()
    return peak / 1e6


def end_to_end(url: str, pages: int) -> None:
    """Rows/s of the omis_dataset transfer into a throwaway PostgreSQL server."""
    import tempfile

    import yaml

    from tests.services.postgres import create_database, postgres_server
    from tests.support.hawk_server import HAWK_ID, HAWK_KEY

    try:
        from etl_framework.runner import run_transfer
    except ImportError as exc:
        print(f"end-to-end skipped: {exc}")
        return
    with postgres_server() as server_url, tempfile.TemporaryDirectory() as tmp:
        db_url = create_database(server_url)
        config = {
            "state": {"url": f"sqlite:///{tmp}/state.db"},
            "connections": {
                "datahub": {
                    "type": "http",
                    "base_url": url,
                    "auth": {"type": "hawk", "id": HAWK_ID, "key": HAWK_KEY},
                },
                "warehouse": {"type": "sql", "url": db_url},
            },
            "transfers": {
                "omis_dataset": {
                    "source": {
                        "connection": "datahub",
                        "path": "v4/dataset/omis-dataset",
                        "pagination": {
                            "type": "page_number",
                            "page_size": PAGE_SIZE,
                            "page_size_param": "page_size",
                            "total_path": "count",
                        },
                        "concurrency": 8,
                    },
                }
            },
        }
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        started = time.perf_counter()
        summary = run_transfer("omis_dataset", time.strftime("%Y%m%d"), "truncate", str(path))
        assert summary.succeeded, summary.error
        seconds = time.perf_counter() - started
        rows = pages * PAGE_SIZE
        print(
            f"{'end to end into PostgreSQL (hawk, 8 workers)':<44} {rows / seconds:9.0f} rows/s "
            f"({seconds:.2f}s for {rows} rows)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=120)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--rounds", type=int, default=3, help="runs per scenario (best shown)")
    parser.add_argument("--postgres", action="store_true", help="also measure end to end")
    args = parser.parse_args()
    pages = args.pages
    records = pages * PAGE_SIZE

    plain = Server(records, args.latency, hawk=False)
    hawk = Server(records, args.latency, hawk=True)
    try:
        import requests

        size = len(requests.get(plain.url + "v4/dataset/omis-dataset", timeout=30).content)
        print(
            f"{pages} pages of {PAGE_SIZE} records, {size / 1000:.0f} KB a page, "
            f"{args.latency * 1000:.0f} ms latency, best of {args.rounds} interleaved runs"
        )
        scenarios: dict[str, Callable[[], int]] = {
            "plain requests loop (json), sequential": lambda: plain_loop(plain.url, pages),
            "HttpSource unsigned, sequential": lambda: count_rows(
                _source(plain.url, concurrency=1, hawk=False)
            ),
            "HttpSource hawk + verify, sequential": lambda: count_rows(
                _source(hawk.url, concurrency=1, hawk=True)
            ),
            "HttpSource unsigned, 8 workers": lambda: count_rows(
                _source(plain.url, concurrency=8, hawk=False)
            ),
            "HttpSource hawk + verify, 8 workers": lambda: count_rows(
                _source(hawk.url, concurrency=8, hawk=True)
            ),
        }
        runs: dict[str, list[tuple[float, float]]] = {label: [] for label in scenarios}
        for _ in range(args.rounds):  # interleaved, so load changes hit every scenario alike
            for label, func in scenarios.items():
                runs[label].append(measure(pages, func))
        rates = {label: report(label, runs[label]) for label in scenarios}
        served = {plain: args.rounds * pages * 3, hawk: args.rounds * pages * 2}
        server_cpu = {s: s.cpu_seconds() / served[s] * 1000 for s in (plain, hawk)}
        print(
            f"test server CPU per page answered: unsigned {server_cpu[plain]:.1f} ms, "
            f"hawk {server_cpu[hawk]:.1f} ms (on the same cores as the client)"
        )

        slow_pages = min(pages, 30)
        from etl_framework.http import auth

        fast = auth.hashable_content
        auth.hashable_content = _bytes_content  # type: ignore[assignment]
        try:
            report(
                "hawk, mohawk hashing bytes (slow path), seq",
                [
                    measure(
                        slow_pages,
                        lambda: _first_pages(
                            _source(hawk.url, concurrency=1, hawk=True), slow_pages
                        ),
                    )
                ],
            )
        finally:
            auth.hashable_content = fast
        seq = rates["HttpSource unsigned, sequential"]
        conc = rates["HttpSource unsigned, 8 workers"]
        hseq = rates["HttpSource hawk + verify, sequential"]
        hconc = rates["HttpSource hawk + verify, 8 workers"]
        print(f"hawk/unsigned: sequential {hseq / seq:.2f}, 8 workers {hconc / conc:.2f}")
        signing, verifying, slow = hawk_cost()
        print(
            f"hawk client CPU per page: sign {signing:.2f} ms, verify {verifying:.2f} ms "
            f"(mohawk hashing bytes: {slow:.1f} ms)"
        )
        small = peak_memory(plain.url, max(8, pages // 3))
        large = peak_memory(plain.url, pages)
        print(
            f"peak traced memory, 8 workers: {small:.0f} MB for {max(8, pages // 3)} pages, "
            f"{large:.0f} MB for {pages} pages"
        )
        if args.postgres:
            end_to_end(hawk.url, pages)
    finally:
        plain.close()
        hawk.close()
    print(f"concurrent/sequential: {conc / seq:.2f}")


def _first_pages(source: Any, pages: int) -> int:
    rows = 0
    for page in source.pages():
        rows += len(page.records)
        if page.index + 1 >= pages:
            break
    return rows


if __name__ == "__main__":
    main()
