"""Leases on a SQLite ledger: fencing tokens, liveness takeover, one writer per target,
reconciliation, staging records, the finish retry; target keys; the TTL rule."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import etl_framework.state.store as store_module
from etl_framework.config import FrameworkConfig, load_config
from etl_framework.connectors.bigquery import BigQueryConfig
from etl_framework.connectors.sql import SqlConfig
from etl_framework.exceptions import ConfigValidationError, LeaseHeldError, TransientError
from etl_framework.state import RunStore
from etl_framework.state.targets import target_key
from etl_framework.transfers import TableTransferJob
from etl_framework.window import Window, WriteMode

DAY = dt.date(2024, 1, 15)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    s = RunStore(f"sqlite:///{tmp_path / 'state.db'}")
    s.upgrade()
    yield s
    s.close()


def start(
    store: RunStore,
    run_id: str,
    transfer: str = "t",
    window: Window | None = None,
    targets: frozenset[str] = frozenset(),
) -> int:
    window = window or Window.unbounded()
    grant = store.start_run(
        run_id=run_id,
        transfer=transfer,
        execution_date=DAY,
        mode=WriteMode.TRUNCATE if window.is_unbounded else WriteMode.DELTA,
        window=window,
        exclusive=window.is_unbounded,
        targets=targets,
    )
    return grant.fence_token


def finish(store: RunStore, run_id: str) -> bool:
    return store.finish_run(run_id, status="succeeded", rows_read=1, rows_written=1)


def die(store: RunStore, run_id: str) -> None:
    """What the kernel does when the holder's process dies: its lock goes, its row stays."""
    store.liveness.release(run_id)


# --- fencing tokens --------------------------------------------------------------------


def test_tokens_only_grow_even_when_the_clock_goes_back(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = start(store, "a")
    assert first >= int(dt.datetime.now(dt.UTC).timestamp() * 1e6) - 10_000_000
    assert finish(store, "a")
    past = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
    monkeypatch.setattr(store_module, "utcnow", lambda: past)  # the clock jumped back
    second = start(store, "b")
    assert second == first + 1
    assert finish(store, "b")
    monkeypatch.undo()
    third = start(store, "c")
    assert third > second
    run = store.get_run("c")
    assert run is not None
    with store.engine.connect() as conn:
        stored = conn.exec_driver_sql(
            "SELECT r.fence_token, l.fence_token FROM etl_runs r "
            "JOIN etl_leases l ON l.run_id = r.run_id WHERE r.run_id = 'c'"
        ).one()
    assert tuple(stored) == (third, third)


def test_tokens_grow_across_store_instances(tmp_path: Path) -> None:
    tokens = []
    for run_id in ("a", "b", "c"):
        s = RunStore(f"sqlite:///{tmp_path / 'state.db'}")
        s.upgrade()
        tokens.append(start(s, run_id))
        finish(s, run_id)
        s.close()
    assert tokens == sorted(set(tokens))


# --- liveness -------------------------------------------------------------------------


def test_a_dead_holder_is_taken_over_at_once(store: RunStore, tmp_path: Path) -> None:
    start(store, "dead")
    assert (tmp_path / "state.db.locks" / "dead").exists()
    other = RunStore(f"sqlite:///{tmp_path / 'state.db'}")  # another process's view
    try:
        with pytest.raises(LeaseHeldError, match="leased by run dead"):
            start(other, "early")  # alive: refused, default TTL not reached
        die(store, "dead")
        start(other, "new")  # no TTL wait
        dead = other.get_run("dead")
        assert dead is not None and dead.status == "failed"
        assert dead.error == "process died; taken over by run new"
        assert other.taken_over_by("dead") == "new"
        assert not store.heartbeat("dead")
        assert finish(other, "new")
        assert not (tmp_path / "state.db.locks" / "new").exists()
    finally:
        other.close()


def test_a_refused_run_still_takes_over_the_dead_leases_it_met(store: RunStore) -> None:
    day = dt.timedelta(days=1)
    start(store, "dead", window=Window(DAY, DAY + day))
    start(store, "alive", window=Window(DAY + day, DAY + 2 * day))
    die(store, "dead")
    with pytest.raises(LeaseHeldError, match="leased by run alive"):
        start(store, "whole", window=Window.unbounded())
    dead = store.get_run("dead")
    assert dead is not None and dead.status == "failed"
    assert store.get_run("whole") is None


# --- one writer per target ------------------------------------------------------------


def test_another_transfer_writing_the_same_target_is_refused(store: RunStore) -> None:
    key = "sql:postgresql://db:5432/dw/public.orders"
    start(store, "first", transfer="orders_a", targets=frozenset({key}))
    with pytest.raises(LeaseHeldError) as info:
        start(store, "second", transfer="orders_b", targets=frozenset({key, "x"}))
    assert info.value.exit_code == 4
    assert str(info.value) == (
        f"target {key} is being written by run first of transfer 'orders_a' on "
        f"{store.host}; try again when it ends"
    )
    start(store, "third", transfer="orders_b", targets=frozenset({"x"}))  # other tables
    die(store, "first")
    start(store, "fourth", transfer="orders_c", targets=frozenset({key}))  # dead: taken over


class _Orders(TableTransferJob):
    transfer_name = "orders_job"
    target_connection = "warehouse"
    target_table = "orders"


def test_declarative_transfers_name_their_target(tmp_path: Path) -> None:
    config = FrameworkConfig(
        connections={
            "warehouse": SqlConfig(url="postgresql+psycopg://etl:s3cret-pw@DB.example:5432/dw"),
        }
    )
    keys = _Orders.write_targets(config, _Orders.options_from(config))
    assert keys == frozenset({"sql:postgresql://db.example:5432/dw/public.orders"})


@pytest.mark.parametrize(
    ("url", "table"),
    [
        ("postgresql+psycopg://etl:s3cret-pw@db.example/dw", "orders"),
        ("postgresql://other:s3cret-pw@DB.EXAMPLE:5432/dw", "public.orders"),
        ("postgresql+psycopg2://etl:s3cret-pw@db.example:5432/dw?sslmode=require", "ORDERS"),
    ],
)
def test_target_keys_are_canonical_and_hold_no_credentials(url: str, table: str) -> None:
    key = target_key("warehouse", SqlConfig(url=url), table)  # type: ignore[arg-type]
    assert key == "sql:postgresql://db.example:5432/dw/public.orders"
    assert "s3cret" not in key and "etl" not in key.split("//")[1].split("@")[0]


def test_sqlite_and_bigquery_target_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = target_key("a", SqlConfig(url="sqlite:///wh.db"), "t")  # type: ignore[arg-type]
    absolute = target_key("b", SqlConfig(url=f"sqlite:///{tmp_path}/wh.db"), "T")  # type: ignore[arg-type]
    assert relative == absolute == f"sqlite:{(tmp_path / 'wh.db').resolve()}/t"
    bq = BigQueryConfig(project="p", dataset="d", credentials_file="/secret/key.json")
    assert target_key("bq", bq, "events") == "bigquery:p.d.events"
    assert target_key("bq", bq, "other.events") == "bigquery:p.other.events"
    assert target_key("bq", bq, "x.y.events") == "bigquery:x.y.events"


# --- reconcile, staging, finish ----------------------------------------------------------


def test_reconcile_published_records_a_published_run_as_succeeded(store: RunStore) -> None:
    start(store, "published")
    assert not store.ledger("other").reconcile_published("published")  # alive: its own job
    die(store, "published")  # its ledger write failed, then its process ended
    start(store, "next")
    handle = store.ledger("next")
    assert handle.reconcile_published("published")
    run = store.get_run("published")
    assert run is not None and (run.status, run.exit_code) == ("succeeded", 0)
    assert run.error is not None and run.error.startswith("reconciled by run next")
    assert not handle.reconcile_published("published")  # already succeeded
    assert not handle.reconcile_published("next")  # never itself
    assert not handle.reconcile_published("no-such-run")


def test_a_running_run_whose_holder_died_is_reconciled_directly(store: RunStore) -> None:
    start(store, "published", transfer="a")
    die(store, "published")
    assert store.ledger("x").reconcile_published("published")
    run = store.get_run("published")
    assert run is not None and run.status == "succeeded"
    with store.engine.connect() as conn:  # its lease went with it
        assert conn.exec_driver_sql("SELECT count(*) FROM etl_leases").scalar() == 0


def test_stale_staging_is_what_dead_or_finished_runs_recorded(store: RunStore) -> None:
    day = dt.timedelta(days=1)
    start(store, "live", window=Window(DAY, DAY + day))
    start(store, "dead", window=Window(DAY + day, DAY + 2 * day))
    start(store, "done", window=Window(DAY + 2 * day, DAY + 3 * day))
    start(store, "me", window=Window(DAY + 3 * day, DAY + 4 * day))
    for run_id in ("live", "dead", "done", "me"):
        store.ledger(run_id).record_staging("wh", "orders", f"orders__stg_{run_id}")
    store.ledger("done").record_staging("wh", "other", "other__stg_done")
    store.ledger("done").record_staging("dwh", "orders", "orders__stg_done_dwh")
    finish(store, "done")
    die(store, "dead")
    me = store.ledger("me")
    assert me.stale_staging("wh", "orders") == ["orders__stg_dead", "orders__stg_done"]
    me.staging_dropped("wh", "orders__stg_dead")
    assert me.stale_staging("wh", "orders") == ["orders__stg_done"]
    assert me.stale_staging("wh", "nothing") == []


def test_finish_is_retried_while_the_ledger_is_unreachable(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    start(store, "r")
    real = store._finish
    failures = [2]

    def flaky(*args: Any, **kwargs: Any) -> bool:
        if failures[0]:
            failures[0] -= 1
            raise TransientError("run ledger unreachable: server closed the connection")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "_finish", flaky)
    assert finish(store, "r")
    run = store.get_run("r")
    assert run is not None and run.status == "succeeded"

    start(store, "s")
    failures[0] = 10**6
    store.finish_retry_seconds = 0.5
    with pytest.raises(TransientError):
        finish(store, "s")
    assert not (Path(str(store.engine.url.database) + ".locks") / "s").exists()  # released


# --- config -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "ok"),
    [
        ("{}", True),
        ("{lease_ttl_seconds: 45, heartbeat_seconds: 15}", True),
        ("{lease_ttl_seconds: 44, heartbeat_seconds: 15}", False),
        ("{lease_ttl_seconds: 1}", False),
        ("{heartbeat_seconds: 60}", False),
    ],
)
def test_lease_ttl_must_cover_three_heartbeats(tmp_path: Path, state: str, ok: bool) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"state: {state}\n")
    if ok:
        load_config(str(path))
        return
    with pytest.raises(ConfigValidationError) as info:
        load_config(str(path))
    assert info.value.exit_code == 3
    [(where, message)] = info.value.problems
    assert where == "state" and "must be at least 3 x heartbeat_seconds" in message
    assert len(str(info.value).splitlines()) == 1


def test_steps_record_their_bigquery_costs(tmp_path: Path) -> None:
    """The bq_* step columns come from the step's counters; NULL where nothing reported."""
    from etl_framework.job import StepRecord

    store = RunStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        store.upgrade()
        store.start_run(
            run_id="r1",
            transfer="t",
            execution_date=dt.date(2024, 1, 15),
            mode=WriteMode.TRUNCATE,
            window=Window.unbounded(),
            exclusive=True,
        )
        emulated = {"bq_jobs": 2, "bq_load_jobs": 1, "bq_bytes_processed": 0}
        store.finish_run(
            "r1",
            status="succeeded",
            rows_read=1,
            rows_written=1,
            steps={
                "pre_execution_cleansing": StepRecord(0.1, 0, 0, True, {"rows_deleted": 3}),
                "pipeline": StepRecord(1.0, 1, 1, True, emulated),
            },
        )
        pre, pipeline = store.steps("r1")
    finally:
        store.close()
    assert (pre.bq_jobs, pre.bq_load_jobs, pre.bq_bytes_processed, pre.bq_slot_ms) == (
        None,
        None,
        None,
        None,
    )
    assert (pipeline.bq_jobs, pipeline.bq_load_jobs, pipeline.bq_bytes_processed) == (2, 1, 0)
    assert (pipeline.bq_bytes_billed, pipeline.bq_slot_ms) == (None, None)
