"""The run ledger and lease on a real PostgreSQL server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl_framework.exceptions import LeaseHeldError
from etl_framework.state import RunStore
from etl_framework.window import Window, WriteMode
from tests.support.ledger_cases import (
    check_models_match_migrations,
    check_upgrade_from_0001_keeps_history_and_records_step_rows,
)
from tests.support.pipeline import REPO, run_pipeline

DAY = dt.date(2024, 1, 15)
# demo_orders needs its warehouse connection before the ledger is even opened
WAREHOUSE = "connections: {warehouse: {type: sql, url: 'sqlite:///warehouse.db'}}\n"


@pytest.fixture
def store(postgres_url: str) -> Iterator[RunStore]:
    s = RunStore(postgres_url, lease_ttl_seconds=30)
    yield s
    s.close()


def start(store: RunStore, run_id: str, window: Window, *, host: str | None = None) -> None:
    if host:
        store.host = host
    store.start_run(
        run_id=run_id,
        transfer="t",
        execution_date=DAY,
        mode=WriteMode.DELTA if window.start else WriteMode.TRUNCATE,
        window=window,
        exclusive=window.is_unbounded,
    )


def test_pipeline_refuses_an_unmigrated_postgres_ledger(tmp_path: Path, postgres_url: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"state: {{url: '{postgres_url}'}}\n{WAREHOUSE}")
    result = run_pipeline(["20240115", "demo_orders", "delta", str(config)], cwd=tmp_path)
    assert result.returncode == 3
    assert "etlctl db upgrade" in result.stderr

    import subprocess
    import sys

    upgrade = subprocess.run(
        [
            sys.executable,
            "-c",
            "from etl_framework.admin import main; main()",
            "db",
            "upgrade",
            str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "from etl_framework.admin import main; main()",
            "db",
            "check",
            str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0


def test_lease_holds_across_hosts(store: RunStore, postgres_url: str) -> None:
    store.upgrade()
    other_machine = RunStore(postgres_url, lease_ttl_seconds=30)
    try:
        start(store, "run-a", Window(DAY, DAY + dt.timedelta(days=1)), host="node-a")
        with pytest.raises(LeaseHeldError, match="on node-a"):
            start(other_machine, "run-b", Window(DAY, DAY + dt.timedelta(days=1)), host="node-b")
        # a different, non-overlapping window is fine
        start(
            other_machine, "run-c", Window(DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2))
        )
        with pytest.raises(LeaseHeldError):
            start(other_machine, "run-d", Window.unbounded())
        store.finish_run("run-a", status="succeeded", rows_read=1, rows_written=1)
        other_machine.finish_run("run-c", status="succeeded", rows_read=1, rows_written=1)
        start(other_machine, "run-e", Window.unbounded())  # everything released
    finally:
        other_machine.close()


def test_stale_lease_is_taken_over(store: RunStore) -> None:
    store.upgrade()
    start(store, "crashed", Window.unbounded())
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE etl_leases SET heartbeat_at = now() - interval '1 hour'"))
    start(store, "fresh", Window.unbounded())
    crashed = store.get_run("crashed")
    assert (
        crashed is not None
        and crashed.status == "failed"
        and "lease expired" in (crashed.error or "")
    )
    assert not store.heartbeat("crashed") and store.heartbeat("fresh")


def test_demo_into_postgres_warehouse_and_ledger(
    tmp_path: Path, postgres_url: str, store: RunStore
) -> None:
    store.upgrade()
    env = {"ETL_ENV": "postgres", "STATE_DB_URL": postgres_url, "WAREHOUSE_URL": postgres_url}
    config = str(REPO / "jobs" / "config" / "local.yaml")
    for mode in ("truncate", "truncate"):
        result = run_pipeline(["20240330", "demo_orders", mode, config], cwd=tmp_path, **env)
        assert result.returncode == 0, result.stderr
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM orders")).scalar() == 100_664
    finally:
        engine.dispose()
    assert [r.status for r in store.runs()] == ["succeeded", "succeeded"]
    assert not (tmp_path / ".etl").exists()


def test_postgres_ledger_upgrades_from_0001(postgres_url: str) -> None:
    check_upgrade_from_0001_keeps_history_and_records_step_rows(postgres_url)


def test_postgres_ledger_models_match_migrations(postgres_url: str) -> None:
    check_models_match_migrations(postgres_url)


def test_a_ledger_database_that_does_not_exist_is_a_config_error(
    tmp_path: Path, postgres_url: str
) -> None:
    missing = postgres_url.rsplit("/", 1)[0] + "/no_such_ledger_db"
    config = tmp_path / "c.yaml"
    config.write_text(f"state: {{url: '{missing}'}}\n{WAREHOUSE}")
    result = run_pipeline(["20240115", "demo_orders", "delta", str(config)], cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "run ledger refused" in result.stderr and "no_such_ledger_db" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_leases_are_judged_by_the_database_clock(
    store: RunStore, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.upgrade()
    start(store, "a", Window.unbounded(), host="machine-a")
    # Machine B's clock runs an hour fast: by its own clock, A's heartbeat looks stale.
    import etl_framework.state.store as store_module

    fast = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    monkeypatch.setattr(store_module, "utcnow", lambda: fast)
    other = RunStore(postgres_url, lease_ttl_seconds=30)
    try:
        with pytest.raises(LeaseHeldError):
            start(other, "b", Window.unbounded(), host="machine-b")
    finally:
        other.close()
    running = store.get_run("a")
    assert running is not None and running.status == "running"


def _kill_lock_sessions(postgres_url: str) -> int:
    """Close the server sessions holding advisory locks: a vanished pod, once its TCP
    keepalives gave up on it."""
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            return len(
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_locks"
                        " WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
                    )
                ).all()
            )
    finally:
        engine.dispose()


def test_a_dead_holder_is_taken_over_at_once_on_postgres(
    store: RunStore, postgres_url: str
) -> None:
    store.upgrade()
    start(store, "dead", Window.unbounded(), host="node-a")
    other = RunStore(postgres_url)  # default TTL: only liveness can free the lease
    try:
        with pytest.raises(LeaseHeldError, match="leased by run dead"):
            start(other, "early", Window.unbounded(), host="node-b")
        assert _kill_lock_sessions(postgres_url) == 1
        start(other, "new", Window.unbounded(), host="node-b")
        dead = other.get_run("dead")
        assert dead is not None and dead.status == "failed"
        assert dead.error == "process died; taken over by run new"
        assert not store.heartbeat("dead")
        assert other.finish_run("new", status="succeeded", rows_read=0, rows_written=0)
    finally:
        other.close()


def test_a_live_run_whose_lock_session_broke_takes_its_lock_again(
    store: RunStore, postgres_url: str
) -> None:
    store.upgrade()
    start(store, "live", Window.unbounded())
    assert _kill_lock_sessions(postgres_url) == 1
    assert store.heartbeat("live")  # notices, and holds the lock on a new session
    other = RunStore(postgres_url)
    try:
        with pytest.raises(LeaseHeldError, match="leased by run live"):
            start(other, "next", Window.unbounded())
    finally:
        other.close()


def test_postgres_tokens_grow_with_the_server_clock(store: RunStore) -> None:
    store.upgrade()
    tokens = []
    for run_id in ("a", "b", "c"):
        start(store, run_id, Window.unbounded())
        store.finish_run(run_id, status="succeeded", rows_read=0, rows_written=0)
        run = store.get_run(run_id)
        assert run is not None
        with store.engine.connect() as conn:
            tokens.append(
                conn.execute(
                    sa.text("SELECT fence_token FROM etl_runs WHERE run_id = :r"), {"r": run_id}
                ).scalar_one()
            )
    assert tokens == sorted(set(tokens)) and tokens[0] > 1_600_000_000_000_000


def test_the_lock_session_notices_a_vanished_peer_within_seconds(store: RunStore) -> None:
    """Keepalives on both ends of the run's lock session: a pod that vanished without
    closing its connection frees its lease within about 10 s, not hours."""
    store.upgrade()
    start(store, "run", Window.unbounded())
    held = store.liveness._held["run"]  # type: ignore[attr-defined]
    holder = held.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with store.engine.connect() as conn:
        holders = conn.execute(
            sa.text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")
        ).scalars()
        assert list(holders) == [holder]  # the run's own session holds its lock
    names = ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count")
    shown = [held.exec_driver_sql(f"SHOW {name}").scalar() for name in names]
    assert shown == ["5", "2", "3"]
    assert held.exec_driver_sql("SHOW tcp_user_timeout").scalar() in ("10000", "10s")
    params = held.connection.dbapi_connection.info.get_parameters()
    assert (params["keepalives"], params["tcp_user_timeout"]) == ("1", "10000")
