"""The embedded demo through the real CLI: reruns and windows give the same table."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from etl_framework.state import RunStore
from tests.support.pipeline import REPO, run_pipeline


def table_checksum(db: Path, where: str = "1=1") -> tuple[int, str]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(f"SELECT * FROM orders WHERE {where} ORDER BY order_id").fetchall()
    finally:
        conn.close()
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    (tmp_path / "jobs" / "config").mkdir(parents=True)
    shutil.copy(REPO / "jobs" / "config" / "local.yaml", tmp_path / "jobs" / "config")
    return tmp_path


def run(demo_dir: Path, date: str, mode: str, *extra: str) -> tuple[int, str]:
    result = run_pipeline(
        [date, "demo_orders", mode, "jobs/config/local.yaml", *extra], cwd=demo_dir
    )
    assert result.returncode == 0, result.stderr
    return table_checksum(demo_dir / ".etl" / "warehouse.db")


def test_truncate_twice_gives_the_same_table(demo_dir: Path) -> None:
    first = run(demo_dir, "20240330", "truncate")
    assert first[0] > 90_000
    store = RunStore(f"sqlite:///{demo_dir / '.etl' / 'state.db'}")
    [record] = store.runs()
    steps = {s.step: s for s in store.steps(record.run_id)}
    store.close()
    assert steps["pipeline"].rows_written == first[0] == record.rows_written
    assert steps["pre_execution_cleansing"].rows_written == 0
    assert run(demo_dir, "20240330", "truncate") == first
    assert not [
        name
        for (name,) in sqlite3.connect(demo_dir / ".etl" / "warehouse.db").execute(
            "SELECT name FROM sqlite_master WHERE name LIKE '_stg_%'"
        )
    ]


def test_delta_twice_gives_the_same_table_and_equals_the_truncate_slice(demo_dir: Path) -> None:
    full = run(demo_dir, "20240330", "truncate")
    after_delta = run(demo_dir, "20240215", "delta", "--delta_start_date", "20240210")
    assert after_delta == full  # replacing a window with the same data changes nothing
    assert run(demo_dir, "20240215", "delta", "--delta_start_date", "20240210") == full

    # a delta into an empty warehouse holds exactly the truncate's slice of that window
    full_slice = table_checksum(
        demo_dir / ".etl" / "warehouse.db",
        "order_date >= '2024-02-10' AND order_date < '2024-02-16'",
    )
    shutil.rmtree(demo_dir / ".etl")
    window_only = run(demo_dir, "20240215", "delta", "--delta_start_date", "20240210")
    assert window_only == full_slice and 0 < window_only[0] < full[0]
    assert run(demo_dir, "20240215", "delta", "--delta_start_date", "20240210") == window_only
