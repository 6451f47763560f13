"""Bad data is named where it is: a real `pipeline` run over a CSV with one bad value."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.support.pipeline import run_pipeline

HEADER = (
    "order_id,order_date,ordered_at,customer_id,country,sku,category,quantity,"
    "unit_price,currency,status,amount"
)
GOOD = "{id},2024-01-15,2024-01-15T10:00:00Z,C1,DE,S1,books,2,9.99,EUR,paid,19.98"


def demo_config(tmp_path: Path, source: Path) -> Path:
    config = tmp_path / "jobs" / "config" / "local.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(
        "state: {url: 'sqlite:///.etl/state.db'}\n"
        "logging: {format: json}\n"
        "connections: {warehouse: {type: sql, url: 'sqlite:///.etl/warehouse.db'}}\n"
        f"transfers: {{demo_orders: {{table: orders, source: '{source}'}}}}\n"
    )
    return config


def test_a_bad_csv_value_is_named_by_file_line_key_and_column(tmp_path: Path) -> None:
    source = tmp_path / "orders.csv"
    lines = [HEADER, GOOD.format(id=1), "", GOOD.format(id=2).replace(",2,9.99", ",abc,9.99")]
    source.write_text("\n".join(lines) + "\n")  # the bad record is on line 4 (3 is blank)
    demo_config(tmp_path, source)
    result = run_pipeline(
        ["20240115", "demo_orders", "truncate", "jobs/config/local.yaml"], cwd=tmp_path
    )
    assert result.returncode == 1, result.stderr
    expected = f"{source} line 4 (order_id='2'): column 'quantity': 'abc' is not an integer"
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["severity"] == "ERROR"
    assert summary["message"].endswith(f"; error: {expected}"), summary["message"]
    ledger = sqlite3.connect(tmp_path / ".etl" / "state.db")
    try:
        (error,) = ledger.execute("SELECT error FROM etl_runs").fetchone()
    finally:
        ledger.close()
    assert error == expected
    warehouse = sqlite3.connect(tmp_path / ".etl" / "warehouse.db")
    try:  # nothing was published: the target was never created
        tables = warehouse.execute(
            "SELECT name FROM sqlite_master WHERE name = 'orders'"
        ).fetchall()
    finally:
        warehouse.close()
    assert tables == []


def test_a_bad_date_says_which_format_it_wants(tmp_path: Path) -> None:
    source = tmp_path / "orders.csv"
    bad = GOOD.format(id=7).replace("2024-01-15,", "2024-13-45,", 1)
    source.write_text(f"{HEADER}\n{bad}\n")
    demo_config(tmp_path, source)
    result = run_pipeline(
        ["20240115", "demo_orders", "truncate", "jobs/config/local.yaml"], cwd=tmp_path
    )
    assert result.returncode == 1
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["message"].endswith(
        f"; error: {source} line 2 (order_id='7'): column 'order_date': '2024-13-45'"
        " is not a date (YYYY-MM-DD)"
    ), summary["message"]
