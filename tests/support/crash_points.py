"""The core promise, point by point: a run SIGKILLed anywhere leaves the target as it
was (or, once its publish committed, as one clean run leaves it), and the next run
gives exactly one clean run's result, drops the leftover staging and records the
killed run as failed ("process died"), or, when the kill came after its publish
committed, as succeeded (the warehouse fence shows it published: never "failed").
The rerun starts right after the kill, with the default lease TTL: the dead run's
lease is taken over at once because its liveness lock (flock beside a SQLite ledger,
session advisory lock on a PostgreSQL ledger) died with it. Shared by the SQLite and
PostgreSQL tests."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from etl_framework.load.sql.staging import list_staging
from tests.support.crash_jobs import CRASH_ENV, day_of, record
from tests.support.pipeline import run_pipeline

ROWS = 3000
JOBS_ENV = {"ETL_JOBS_MODULES": "tests.support.crash_jobs"}
# Kill points after which the publish has committed: the target holds the new rows.
COMMITTED = frozenset({"after_publish", "in_cleanup"})

# (transfer, mode, publish, pipeline arguments after the mode)
VARIANTS = {
    "truncate-staging": ("crash_orders", "truncate", "staging", []),
    "truncate-direct": ("crash_orders", "truncate", "direct", []),
    "delta-window-staging": (
        "crash_orders",
        "delta",
        "staging",
        ["--delta_start_date", "20240110"],
    ),
    "delta-window-direct": ("crash_orders", "delta", "direct", ["--delta_start_date", "20240110"]),
    "delta-merge": ("crash_orders_merge", "delta", "staging", ["--delta_start_date", "20240110"]),
}
EXECUTION_DATE = "20240112"
WINDOW = (day_of(9), day_of(12))  # [2024-01-10, 2024-01-13)


def _config(
    tmp_path: Path, url: str, transfer: str, ledger: str | None = None, **options: Any
) -> Path:
    config = {
        # the default lease TTL (120 s) and heartbeat: the rerun must not wait for it
        "state": {"url": ledger or f"sqlite:///{tmp_path / 'state.db'}"},
        "logging": {"format": "text", "progress": False},
        "connections": {"warehouse": {"type": "sql", "url": url}},
        "transfers": {transfer: {"rows": ROWS, **options}},
    }
    path = tmp_path / f"config-{len(list(tmp_path.glob('config-*')))}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _table(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.exec_driver_sql(
                "SELECT id, day, version, payload FROM orders ORDER BY id"
            ).all()
        ]


def _expected(mode: str) -> list[tuple[Any, ...]]:
    """What one clean version-1 run leaves on the version-0 table."""
    rows = []
    for i in range(ROWS):
        changed = mode == "truncate" or WINDOW[0] <= day_of(i) < WINDOW[1]
        r = record(i, 1 if changed else 0)
        rows.append((r["id"], r["day"], r["version"], r["payload"]))
    return rows


def _normalise(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    # SQLite returns dates as ISO text through exec_driver_sql.
    return [(i, str(day), version, payload) for i, day, version, payload in rows]


def check_crash_point(
    url: str, tmp_path: Path, variant: str, point: str, ledger: str | None = None
) -> None:
    """Kill a run of ``variant`` at ``point``, rerun at once. ``ledger``: the ledger's
    URL (default: a SQLite file in ``tmp_path``; a PostgreSQL one must be migrated)."""
    transfer, mode, publish, extra = VARIANTS[variant]
    ledger = ledger or f"sqlite:///{tmp_path / 'state.db'}"
    engine = sa.create_engine(url)
    try:
        seed = run_pipeline(
            [EXECUTION_DATE, transfer, "truncate", str(_config(tmp_path, url, transfer, ledger))],
            tmp_path,
            **JOBS_ENV,
        )
        assert seed.returncode == 0, seed.stderr
        before = _table(engine)
        assert len(before) == ROWS

        args = [EXECUTION_DATE, transfer, mode]
        new = _config(tmp_path, url, transfer, ledger, version=1, publish=publish)
        crashed = run_pipeline(
            [*args, str(new), *extra], tmp_path, **JOBS_ENV, **{CRASH_ENV: point}
        )
        assert crashed.returncode == -signal.SIGKILL, (crashed.returncode, crashed.stderr)

        after_crash = _table(engine)
        if point in COMMITTED:
            assert _normalise(after_crash) == _normalise(_expected(mode)), "publish not complete"
        else:
            assert after_crash == before, "a killed run changed the target"

        # At once: no waiting for the killed run's lease to age past the TTL.
        rerun = run_pipeline([*args, str(new), *extra], tmp_path, **JOBS_ENV)
        assert rerun.returncode == 0, rerun.stderr
        assert _normalise(_table(engine)) == _normalise(_expected(mode))
        with engine.connect() as conn:
            left = list_staging(conn, "orders")
        assert left == [], "the killed run's staging was not dropped"
    finally:
        engine.dispose()

    state = sa.create_engine(ledger)
    try:
        with state.connect() as conn:
            runs = conn.execute(
                sa.text("SELECT status, error, run_id FROM etl_runs ORDER BY started_at")
            ).all()
    finally:
        state.dispose()
    rerun_id = runs[2][2]
    died = f"process died; taken over by run {rerun_id}"
    if point in COMMITTED:  # it published: the rerun's fence claim records it succeeded
        assert [status for status, _, _ in runs] == ["succeeded"] * 3, runs
        assert runs[1][1] == (
            f"reconciled by run {rerun_id}: the warehouse fence shows it published "
            f"(the ledger had failed: {died})"
        ), runs[1][1]
    else:
        assert [status for status, _, _ in runs] == ["succeeded", "failed", "succeeded"], runs
        assert runs[1][1] == died, runs[1][1]


LOOKALIKE = "_stg_orders_abcd1234"
"""A user table named exactly like a staging table of ``orders``."""


def check_lookalike_survives_every_cleanup(url: str, tmp_path: Path) -> None:
    """Real `pipeline` processes: a user table matching the staging pattern survives
    cleansing and cleanup after a success, after a failure, and after a SIGKILLed run
    (the rerun's cleansing), while the target ends as one clean run leaves it."""
    transfer = "crash_orders"
    engine = sa.create_engine(url)

    def intact() -> None:
        with engine.connect() as conn:
            assert conn.exec_driver_sql(f'SELECT precious FROM "{LOOKALIKE}"').all() == [(42,)]

    def pipeline(config: Path, **env: str) -> Any:
        return run_pipeline(
            [EXECUTION_DATE, transfer, "truncate", str(config)], tmp_path, **JOBS_ENV, **env
        )

    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE TABLE "{LOOKALIKE}" (precious integer)')
            conn.exec_driver_sql(f'INSERT INTO "{LOOKALIKE}" VALUES (42)')
        seed = pipeline(_config(tmp_path, url, transfer))
        assert seed.returncode == 0, seed.stderr
        intact()
        empty = pipeline(_config(tmp_path, url, transfer, rows=0, version=1))
        assert empty.returncode == 1, empty.stderr  # min_rows refuses: cleanup after failure
        assert "min_rows" in empty.stderr
        intact()
        new = _config(tmp_path, url, transfer, version=1)
        killed = pipeline(new, **{CRASH_ENV: "mid_load"})
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        intact()
        rerun = pipeline(new)
        assert rerun.returncode == 0, rerun.stderr
        intact()
        assert LOOKALIKE not in rerun.stderr
        assert _normalise(_table(engine)) == _normalise(_expected("truncate"))
        with engine.connect() as conn:
            assert LOOKALIKE in list_staging(conn, "orders")  # it does look like staging
    finally:
        engine.dispose()
