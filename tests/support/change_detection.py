"""``pipeline --skip-unchanged`` on the demo transfer, through the real CLI: shared by
the SQLite-ledger test (tests/integration/test_change_detection.py) and the PostgreSQL
one (tests/integration/postgres/test_change_detection.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO_RUN = [sys.executable, "-m", "etl_framework", "20240330", "demo_orders", "truncate"]
DEMO_DATA = REPO / "jobs" / "data" / "demo_orders.csv.gz"


def demo_config(
    directory: Path, state_url: str, *, table: str = "orders", source: str | None = None
) -> Path:
    """A demo config whose source is a copy of the shipped CSV (so a test can change it),
    or ``source`` (e.g. a gs:// URI)."""
    if source is None:
        local = directory / "orders.csv.gz"
        if not local.exists():
            shutil.copy(DEMO_DATA, local)
        source = str(local)
    config = directory / "demo.yaml"
    config.write_text(
        f"state: {{url: '{state_url}'}}\n"
        "logging: {format: json}\n"
        f"connections: {{warehouse: {{type: sql, url: 'sqlite:///{directory / 'wh.db'}'}}}}\n"
        f"transfers: {{demo_orders: {{table: {table}, source: '{source}'}}}}\n"
    )
    return config


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETL_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def pipeline(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DEMO_RUN, str(config), *extra],
        cwd=config.parent,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def etlctl_runs(config: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "from etl_framework.admin import main; main()", "runs", str(config)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def ran(config: Path, *extra: str) -> None:
    done = pipeline(config, *extra)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "", done.stdout  # only a skip prints on stdout


def skipped(config: Path) -> str:
    """Run with --skip-unchanged; it must skip: returns the run it names."""
    done = pipeline(config, "--skip-unchanged")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("skipped: inputs unchanged since run "), lines
    return lines[0].rsplit(" ", 1)[1]


def check_skip_unchanged(directory: Path, state_url: str) -> None:
    config = demo_config(directory, state_url)
    warehouse = directory / "wh.db"
    ran(config, "--skip-unchanged")  # nothing to compare with yet: it runs
    before = warehouse.stat().st_mtime_ns
    first = etlctl_runs(config).splitlines()[1]
    assert "succeeded" in first

    since = skipped(config)
    assert warehouse.stat().st_mtime_ns == before  # nothing touched in the warehouse
    history = etlctl_runs(config).splitlines()
    assert "skipped" in history[1] and f"inputs unchanged since run {since}" in history[1]

    # without --skip-unchanged (the demo's default) it runs
    ran(config)
    assert warehouse.stat().st_mtime_ns != before
    skipped(config)

    # a changed source file makes it run
    source = directory / "orders.csv.gz"
    source.write_bytes(source.read_bytes() + b"")  # same content, same fingerprint
    skipped(config)
    import gzip

    text = gzip.decompress(source.read_bytes())
    rows = text.splitlines(keepends=True)
    source.write_bytes(gzip.compress(b"".join(rows[:-1])))  # one order fewer
    ran(config, "--skip-unchanged")
    skipped(config)

    # a changed config makes it run
    config.write_text(config.read_text() + "# a comment changes the config\n")
    before = warehouse.stat().st_mtime_ns
    ran(config, "--skip-unchanged")
    assert warehouse.stat().st_mtime_ns != before
    skipped(config)


def ledger_runs(state_url: str) -> list[tuple[str, str, str | None, int | None]]:
    """(run_id, status, skip_reason, exit_code) of every run, oldest first."""
    import sqlalchemy as sa

    engine = sa.create_engine(state_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT run_id, status, skip_reason, exit_code FROM etl_runs "
                    "ORDER BY started_at, run_id"
                )
            )
            return [(str(r[0]), str(r[1]), r[2], r[3]) for r in rows]
    finally:
        engine.dispose()
