"""``pipeline ... --plan`` prints the resolved run and leaves ledger and warehouse
byte-identical (no ledger row, no lease, no staging, no new file)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import yaml

from tests.support.pipeline import REPO, run_pipeline


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_plan_touches_nothing(tmp_path: Path) -> None:
    (tmp_path / "jobs" / "config").mkdir(parents=True)
    shutil.copy(REPO / "jobs" / "config" / "local.yaml", tmp_path / "jobs" / "config")
    config = "jobs/config/local.yaml"
    first = run_pipeline(["20240330", "demo_orders", "truncate", config], tmp_path)
    assert first.returncode == 0, first.stderr
    before = _snapshot(tmp_path / ".etl")
    assert {"state.db", "warehouse.db"} <= set(before)

    delta = run_pipeline(
        ["20240215", "demo_orders", "delta", config, "--delta_start_date", "20240210", "--plan"],
        tmp_path,
    )
    assert delta.returncode == 0, delta.stderr
    plan = yaml.safe_load(delta.stdout)
    assert plan["window"] == "20240210..20240216" and plan["strategy"] == "replace_window"
    assert plan["target"] == {"connection": "warehouse", "table": "orders"}
    assert plan["lease"]["exclusive"] is True and plan["lease"]["targets"]
    truncate = run_pipeline(["20240330", "demo_orders", "truncate", config, "--plan"], tmp_path)
    assert truncate.returncode == 0 and yaml.safe_load(truncate.stdout)["strategy"] == (
        "replace_table"
    )
    after = _snapshot(tmp_path / ".etl")
    assert {name: after[name] for name in before} == before
    # SQLite's read-only open of a WAL database (the target check every run does before
    # it touches anything) may leave an empty -wal and its -shm index; nothing else
    new = {name: digest for name, digest in after.items() if name not in before}
    assert set(new) <= {"warehouse.db-wal", "warehouse.db-shm"}
    assert new.get("warehouse.db-wal", hashlib.sha256(b"").hexdigest()) == (
        hashlib.sha256(b"").hexdigest()
    )


def test_plan_without_a_ledger_creates_none(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state:\n  url: sqlite:///{tmp_path / 'state' / 'state.db'}\n"
        f"transfers:\n  trace_delta_only:\n    trace_dir: {tmp_path / 'trace'}\n"
        "    api_token: ${API_TOKEN}\n"
    )
    result = run_pipeline(
        ["20240301", "trace_delta_only", "delta", str(config), "--plan"],
        tmp_path,
        API_TOKEN="tok-9f8e7d6c5b",
    )
    assert result.returncode == 0, result.stderr
    assert "tok-9f8e7d6c5b" not in result.stdout + result.stderr
    assert yaml.safe_load(result.stdout)["window"] == "20240301..20240302"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]
