"""Both halves of the fence together, with real `pipeline` processes: a run stalled
(SIGSTOP) past its lease TTL after it claimed its target, a second run that takes the
lease over and publishes, then the first one resumed (SIGCONT). The first never
publishes: it exits 4 with one line naming the second run, the table holds exactly
the second run's clean result, and the ledger agrees (first failed, second
succeeded). Shared by the SQLite-warehouse and PostgreSQL-warehouse tests, with the
ledger in the same database or in the other one.

The first run is made blind to the ledger while it is stalled
(``ETL_TEST_BLIND_HEARTBEAT``: its heartbeats fail, as across a partition from a
ledger in another database), so it cannot learn that it lost its lease from the
ledger: what stops its publish is the check inside the publish transaction, in the
warehouse.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from etl_framework.state import RunStore
from tests.support.crash_jobs import (
    BLIND_HEARTBEAT_ENV,
    PAUSE_AT_ENV,
    PAUSE_ENV,
    record,
)
from tests.support.pipeline import run_pipeline, start_pipeline

ROWS = 3000
JOBS_ENV = {"ETL_JOBS_MODULES": "tests.support.crash_jobs"}
DAY = "20240112"
TRANSFER = "crash_orders"
HEARTBEAT = 0.5
TTL = 3 * HEARTBEAT  # the shortest TTL the config accepts


def migrated(url: str) -> str:
    """A PostgreSQL ledger is migrated by an admin (etlctl db upgrade)."""
    store = RunStore(url)
    try:
        store.upgrade()
    finally:
        store.close()
    return url


def write_config(tmp_path: Path, warehouse: str, ledger: str, name: str, **options: Any) -> Path:
    config = {
        "state": {"url": ledger, "lease_ttl_seconds": TTL, "heartbeat_seconds": HEARTBEAT},
        "logging": {"format": "text", "progress": False},
        "connections": {"warehouse": {"type": "sql", "url": warehouse}},
        "transfers": {TRANSFER: {"rows": ROWS, **options}},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def table_checksum(url: str) -> tuple[int, str]:
    """Row count and a digest of the whole ``orders`` table, in id order."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT id, day, version, payload FROM orders ORDER BY id"
            ).all()
    finally:
        engine.dispose()
    return _checksum([(i, str(day), version, payload) for i, day, version, payload in rows])


def clean_checksum(version: int) -> tuple[int, str]:
    """What one clean truncate run of ``version`` leaves in ``orders``."""
    return _checksum(
        [
            (r["id"], str(r["day"]), r["version"], r["payload"])
            for r in (record(i, version) for i in range(ROWS))
        ]
    )


def _checksum(rows: list[tuple[Any, ...]]) -> tuple[int, str]:
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


def wait_for_file(path: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended first: {proc.communicate()[1]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)


def ledger_runs(ledger: str) -> list[Any]:
    store = RunStore(ledger)
    try:
        return list(reversed(store.runs()))  # oldest first
    finally:
        store.close()


def check_stalled_run_never_publishes(
    tmp_path: Path,
    warehouse: str,
    ledger: str,
    pause_at: str = "mid_load",
    *,
    blind: bool = True,
) -> None:
    """``pause_at``: where the first run is stalled, ``mid_load`` (half of its rows in
    staging) or ``before_publish`` (staging loaded, its publish transaction next).
    ``blind=False``: its heartbeat reaches the ledger after SIGCONT (the heartbeat or
    the fence, whichever comes first, stops it)."""
    args = [DAY, TRANSFER, "truncate"]
    seed = run_pipeline(
        [*args, str(write_config(tmp_path, warehouse, ledger, "seed"))], tmp_path, **JOBS_ENV
    )
    assert seed.returncode == 0, seed.stderr

    pause = tmp_path / "paused"
    first = start_pipeline(
        [*args, str(write_config(tmp_path, warehouse, ledger, "first", version=1))],
        tmp_path,
        **JOBS_ENV,
        **{PAUSE_ENV: str(pause), PAUSE_AT_ENV: pause_at},
        **({BLIND_HEARTBEAT_ENV: "1"} if blind else {}),
    )
    stopped = False
    try:
        wait_for_file(pause, first)  # claimed the target, stalled at pause_at
        os.kill(first.pid, signal.SIGSTOP)  # a frozen node, a long GC pause
        stopped = True
        time.sleep(TTL + 0.5)  # past the TTL: its lease is stale
        second = run_pipeline(
            [*args, str(write_config(tmp_path, warehouse, ledger, "second", version=2))],
            tmp_path,
            timeout=90,
            **JOBS_ENV,
        )
        assert second.returncode == 0, second.stderr
        assert table_checksum(warehouse) == clean_checksum(2)
    finally:
        pause.unlink(missing_ok=True)  # the first goes on where it stopped
        if stopped:
            os.kill(first.pid, signal.SIGCONT)
        try:
            _out, err = first.communicate(timeout=90)
        finally:
            if first.poll() is None:
                first.kill()

    _seed, taken, taker = ledger_runs(ledger)
    assert first.returncode == 4, err
    assert "Traceback" not in err, err
    summary = err.strip().splitlines()[-1]  # the run's one-line summary
    assert f"run {taker.run_id} took it over; nothing was published" in summary, err
    if blind and pause_at == "before_publish":
        # It never heard from the ledger: the check inside its publish transaction, in
        # the warehouse, stopped it. (Stalled mid-load on SQLite, it may instead find
        # its staging dropped by the run that took over: the lease it lost is its own.)
        assert "is newer than this run's" in summary, err
    assert table_checksum(warehouse) == clean_checksum(2), "the fenced-out run published"
    assert (taken.status, taker.status) == ("failed", "succeeded")
    assert taken.error == f"lease expired (no heartbeat); taken over by run {taker.run_id}"
    assert taker.error is None
