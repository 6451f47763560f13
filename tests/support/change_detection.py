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


def table_checksum(database: Path, table: str = "orders") -> str:
    """sha256 of every row of a SQLite warehouse table, in key order."""
    import hashlib

    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY order_id")).all()
    finally:
        engine.dispose()
    assert rows, f"{table} is empty"
    return hashlib.sha256(repr([tuple(row) for row in rows]).encode()).hexdigest()


def at_once(config: Path, processes: int = 2) -> list[subprocess.CompletedProcess[str]]:
    """``processes`` x ``pipeline ... --skip-unchanged`` started together."""
    started = [
        subprocess.Popen(
            [*DEMO_RUN, str(config), "--skip-unchanged"],
            cwd=config.parent,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    done = []
    for process in started:
        out, err = process.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return done


def _skip_or_refusal(done: subprocess.CompletedProcess[str], since: str | None) -> str:
    """ "skipped" (exit 0, the skip line naming ``since`` when given) or "refused"
    (exit 4: another run held the lease, no ledger row); anything else fails."""
    if done.returncode == 0 and done.stdout.startswith("skipped: inputs unchanged since run "):
        assert done.stdout.count("\n") == 1, done.stdout
        if since is not None:
            assert done.stdout.strip().endswith(since), done.stdout
        return "skipped"
    assert done.returncode == 4, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == "" and "lease" in done.stderr, done.stderr
    return "refused"


def check_skip_race(directory: Path, state_url: str, fresh_state_url: str) -> None:
    """Two ``--skip-unchanged`` processes at once on one window.

    After a succeeded run: neither loads; each skips or, while the other holds the
    lease, is refused (exit 4, no ledger row); the table is untouched. On a fresh
    window (``fresh_state_url``: an empty ledger): exactly one loads, the other is
    refused or (if it got the lease after the load) skips; a later run skips; the
    table is the same as one clean load."""
    # after a first succeeded run
    config = demo_config(directory, state_url)
    warehouse = directory / "wh.db"
    ran(config, "--skip-unchanged")
    ((first, status, _, _),) = ledger_runs(state_url)
    assert status == "succeeded"
    checksum = table_checksum(warehouse)
    mtime = warehouse.stat().st_mtime_ns

    outcomes = [_skip_or_refusal(done, first) for done in at_once(config)]
    assert "skipped" in outcomes, outcomes  # the lease is held for a moment only
    runs = ledger_runs(state_url)
    assert runs[0] == (first, "succeeded", None, 0)
    assert [(status, reason, code) for _, status, reason, code in runs[1:]] == [
        ("skipped", f"inputs unchanged since run {first}", 0)
    ] * outcomes.count("skipped")
    assert table_checksum(warehouse) == checksum
    assert warehouse.stat().st_mtime_ns == mtime
    _no_lease_left(state_url)

    # a fresh window: one loads, the other waits its turn (refused) or skips after it
    fresh = directory / "fresh"
    fresh.mkdir()
    shutil.copy(directory / "orders.csv.gz", fresh / "orders.csv.gz")
    fresh_config = demo_config(fresh, fresh_state_url)
    done = at_once(fresh_config)
    loaded = [d for d in done if d.returncode == 0 and d.stdout == ""]
    assert len(loaded) == 1, [(d.returncode, d.stdout, d.stderr[-300:]) for d in done]
    runs = ledger_runs(fresh_state_url)
    succeeded = [run_id for run_id, status, _, _ in runs if status == "succeeded"]
    assert len(succeeded) == 1, runs
    (other,) = [d for d in done if d is not loaded[0]]
    outcome = _skip_or_refusal(other, succeeded[0])
    assert len(runs) == (2 if outcome == "skipped" else 1), runs
    assert table_checksum(fresh / "wh.db") == checksum  # one clean load of the same file
    _no_lease_left(fresh_state_url)

    later = skipped(fresh_config)
    assert later == succeeded[0]
    assert ledger_runs(fresh_state_url)[-1][1:] == (
        "skipped",
        f"inputs unchanged since run {later}",
        0,
    )
    assert table_checksum(fresh / "wh.db") == checksum


def _no_lease_left(state_url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(state_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM etl_leases")).scalar() == 0
            running = conn.execute(
                sa.text("SELECT count(*) FROM etl_runs WHERE status = 'running'")
            ).scalar()
            assert running == 0
    finally:
        engine.dispose()
