"""The demo transform demo_completed_orders through the real CLI (issue 14 item 7)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from tests.support.pipeline import REPO, run_pipeline


def test_demo_view_waits_for_demo_orders_then_holds_february(tmp_path: Path) -> None:
    (tmp_path / "jobs" / "config").mkdir(parents=True)
    shutil.copy(REPO / "jobs" / "config" / "local.yaml", tmp_path / "jobs" / "config")
    view = ["20240215", "demo_completed_orders", "truncate", "jobs/config/local.yaml"]
    early = run_pipeline(view, cwd=tmp_path)
    assert early.returncode == 75, early.stderr
    assert early.stderr.strip().splitlines()[-1] == (
        "pipeline: error: upstream demo_orders has not covered 2024-02-15..2024-02-15 yet"
    )
    loaded = run_pipeline(
        ["20240215", "demo_orders", "truncate", "jobs/config/local.yaml"], cwd=tmp_path
    )
    assert loaded.returncode == 0, loaded.stderr
    for _ in range(2):
        result = run_pipeline(view, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        conn = sqlite3.connect(tmp_path / ".etl" / "warehouse.db")
        try:
            got = conn.execute(
                "SELECT order_id, order_date, country, amount FROM completed_orders "
                "ORDER BY order_id"
            ).fetchall()
            want = conn.execute(
                "SELECT order_id, order_date, country, amount FROM orders WHERE status = "
                "'completed' AND order_date BETWEEN '2024-02-01' AND '2024-02-29' "
                "ORDER BY order_id"
            ).fetchall()
        finally:
            conn.close()
        assert len(got) > 1000
        assert got == want
        assert {day[:7] for _, day, _, _ in got} == {"2024-02"}
