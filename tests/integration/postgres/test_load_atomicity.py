"""The loading promise on a real PostgreSQL: readers never see an empty, partial or
mixed target; a run killed mid-COPY leaves the target as it was and the next run
cleans up; views, grants and indexes of the target survive a full refresh."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from etl_framework.load.sql.replace_table import ReplaceTableStrategy
from etl_framework.load.sql.staging import list_staging
from etl_framework.mapping import FieldMapping
from tests.support.pipeline import run_pipeline, start_pipeline
from tests.support.strategy_cases import connector

MAPPING = FieldMapping.from_tuples(
    [("id", "id", "bigint primary key"), ("version", "version", "integer not null")]
)
JOBS_ENV = {"ETL_JOBS_MODULES": "tests.support.load_jobs"}


def rows(n: int, version: int) -> Any:
    return ((i, version) for i in range(n))


def checksum(engine: sa.Engine, table: str = "orders") -> tuple[Any, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.exec_driver_sql(
                f"SELECT COUNT(*), md5(COALESCE(string_agg(t::text, ',' ORDER BY id), '')) "
                f"FROM {table} t"
            ).one()
        )


def publish(c: Any, n: int, version: int, run_id: str, method: str = "delete") -> None:
    strategy = ReplaceTableStrategy(c, "orders", MAPPING, run_id=run_id, method=method)  # type: ignore[arg-type]
    try:
        strategy.write(rows(n, version))
    finally:
        strategy.drop_staging()


def test_view_grants_and_indexes_survive_truncate(postgres_url: str) -> None:
    with connector(postgres_url) as c:
        publish(c, 100, 0, "first")
        with c.engine.begin() as conn:
            conn.exec_driver_sql("CREATE VIEW orders_v AS SELECT id, version FROM orders")
            conn.exec_driver_sql("CREATE INDEX orders_version_ix ON orders (version)")
            conn.exec_driver_sql("CREATE ROLE etl_reader_test")
            conn.exec_driver_sql("GRANT SELECT ON orders TO etl_reader_test")
        try:
            for method in ("delete", "truncate"):
                publish(c, 50, 1, f"second-{method}", method)
                with c.engine.connect() as conn:
                    assert conn.exec_driver_sql(
                        "SELECT COUNT(*), MIN(version) FROM orders_v"
                    ).one() == (50, 1)
                    assert conn.exec_driver_sql(
                        "SELECT has_table_privilege('etl_reader_test', 'orders', 'SELECT')"
                    ).scalar()
                    indexes = {i["name"] for i in sa.inspect(conn).get_indexes("orders")}
                    assert "orders_version_ix" in indexes
        finally:
            with c.engine.begin() as conn:
                conn.exec_driver_sql("DROP VIEW IF EXISTS orders_v")
                conn.exec_driver_sql("REVOKE ALL ON orders FROM etl_reader_test")
                conn.exec_driver_sql("DROP ROLE etl_reader_test")


@pytest.mark.parametrize(
    ("method", "direct"), [("delete", False), ("truncate", False), ("delete", True)]
)
def test_reader_never_sees_empty_or_mixed_table(
    postgres_url: str, method: str, direct: bool
) -> None:
    old_n, new_n = 120_000, 90_000
    with connector(postgres_url) as c:
        publish(c, old_n, 0, "base")
        seen: list[tuple[int, int | None, int | None]] = []
        stop = threading.Event()

        def reader() -> None:
            engine = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                while not stop.is_set():
                    row = conn.exec_driver_sql(
                        "SELECT COUNT(*), MIN(version), MAX(version) FROM orders"
                    ).one()
                    seen.append(tuple(row))  # type: ignore[arg-type]
            engine.dispose()

        strategy = ReplaceTableStrategy(
            c,
            "orders",
            MAPPING,
            run_id="swap",
            method=method,
            direct=direct,  # type: ignore[arg-type]
        )
        thread = threading.Thread(target=reader)
        thread.start()
        try:
            while len(seen) < 3:
                time.sleep(0.01)
            if direct:
                strategy.write(rows(new_n, 1))
            else:
                strategy.prepare()
                strategy.load(rows(new_n, 1))
                strategy.publish()
            count = len(seen)
            while len(seen) < count + 3:
                time.sleep(0.01)
        finally:
            stop.set()
            thread.join(30)
            strategy.drop_staging()
    assert set(seen) == {(old_n, 0, 0), (new_n, 1, 1)}, set(seen)
    assert seen[0] == (old_n, 0, 0) and seen[-1] == (new_n, 1, 1)


def write_config(tmp_path: Path, postgres_url: str, **options: Any) -> Path:
    config = {
        "state": {
            "url": f"sqlite:///{tmp_path / 'state.db'}",
            "lease_ttl_seconds": 1,
            "heartbeat_seconds": 0.2,
        },
        "logging": {"format": "text", "progress": False},
        "connections": {"warehouse": {"type": "sql", "url": postgres_url}},
        "transfers": {"slow_orders": options},
    }
    path = tmp_path / f"config-{len(list(tmp_path.glob('config-*')))}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("publish", ["staging", "direct"])
def test_sigkill_mid_copy_leaves_target_unchanged_and_next_run_cleans_up(
    postgres_url: str, tmp_path: Path, publish: str
) -> None:
    first = run_pipeline(
        [
            "20240115",
            "slow_orders",
            "truncate",
            str(write_config(tmp_path, postgres_url, rows=5000)),
        ],
        tmp_path,
        **JOBS_ENV,
    )
    assert first.returncode == 0, first.stderr
    engine = sa.create_engine(postgres_url)
    try:
        before = checksum(engine)
        assert before[0] == 5000

        marker = tmp_path / "copying"
        config = write_config(
            tmp_path,
            postgres_url,
            rows=10**7,
            version=1,
            slow_after=25_000,
            marker=str(marker),
            publish=publish,
        )
        proc = start_pipeline(
            ["20240115", "slow_orders", "truncate", str(config)], tmp_path, **JOBS_ENV
        )
        try:
            deadline = time.monotonic() + 60
            while not marker.exists():
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the run never reached the COPY"
                time.sleep(0.05)
            with engine.connect() as conn:  # 20,000 rows are already in the COPY stream
                assert len(list_staging(conn, "orders")) == (publish == "staging")
                copying = conn.exec_driver_sql(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE starts_with(query, 'COPY ')"
                ).scalar()
            assert copying == 1
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL

        assert checksum(engine) == before
        with engine.connect() as conn:
            leftover = list_staging(conn, "orders")
        assert len(leftover) == (publish == "staging")

        time.sleep(1.5)  # the killed run's lease (ttl 1s) expires
        third = run_pipeline(
            [
                "20240115",
                "slow_orders",
                "truncate",
                str(write_config(tmp_path, postgres_url, rows=7000, version=2)),
            ],
            tmp_path,
            **JOBS_ENV,
        )
        assert third.returncode == 0, third.stderr
        for name in leftover:  # recorded in the ledger by the killed run: it is dropped
            assert "dropped staging table " + name in third.stderr
        with engine.connect() as conn:
            assert list_staging(conn, "orders") == []
            assert conn.exec_driver_sql(
                "SELECT COUNT(*), MIN(version), MAX(version) FROM orders"
            ).one() == (7000, 2, 2)
    finally:
        engine.dispose()


def test_delta_then_truncate_through_the_cli(postgres_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, postgres_url, rows=3000)
    assert (
        run_pipeline(
            ["20240115", "slow_orders", "truncate", str(config)], tmp_path, **JOBS_ENV
        ).returncode
        == 0
    )
    delta = write_config(tmp_path, postgres_url, rows=3000, version=5)
    result = run_pipeline(
        ["20240112", "slow_orders", "delta", str(delta), "--delta_start_date", "20240110"],
        tmp_path,
        **JOBS_ENV,
    )
    assert result.returncode == 0, result.stderr
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            by_version = dict(
                conn.exec_driver_sql("SELECT version, COUNT(*) FROM orders GROUP BY 1").all()
            )
            days = conn.exec_driver_sql(
                "SELECT MIN(day), MAX(day) FROM orders WHERE version = 5"
            ).one()
    finally:
        engine.dispose()
    assert by_version == {0: 2700, 5: 300}
    assert [d.isoformat() for d in days] == ["2024-01-10", "2024-01-12"]
