"""Guards through the real `pipeline` process on a real PostgreSQL: NULL merge keys, a
merge target without a key on the key columns, and the truncate defaults (issue 12)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from tests.support.pipeline import run_pipeline

JOBS_ENV = {"ETL_JOBS_MODULES": "tests.support.load_jobs"}


def config(tmp_path: Path, postgres_url: str, transfer: str, **options: Any) -> str:
    path = tmp_path / f"config-{len(list(tmp_path.glob('config-*')))}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
                "logging": {"format": "text", "progress": False},
                "connections": {"warehouse": {"type": "sql", "url": postgres_url}},
                "transfers": {transfer: options},
            }
        )
    )
    return str(path)


def count(postgres_url: str, table: str) -> int:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one())
    finally:
        engine.dispose()


def execute(postgres_url: str, sql: str) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


def merge(tmp_path: Path, postgres_url: str, **options: Any) -> Any:
    path = config(tmp_path, postgres_url, "keyed_merge", **options)
    return run_pipeline(["20240115", "keyed_merge", "delta", path], tmp_path, **JOBS_ENV)


def test_null_merge_keys_are_refused_and_reruns_do_not_grow_the_target(
    postgres_url: str, tmp_path: Path
) -> None:
    """Measured before the guard: 1,001 -> 1,002 -> 1,003 rows, one per rerun."""
    execute(postgres_url, "CREATE TABLE keyed (id BIGINT UNIQUE, payload TEXT)")
    assert merge(tmp_path, postgres_url, rows=1000).returncode == 0
    assert count(postgres_url, "keyed") == 1000
    for _ in range(3):
        result = merge(tmp_path, postgres_url, rows=1000, null_keys=1)
        assert result.returncode == 1, result.stderr
        assert (
            "guard 'null_keys' refused to publish: 1 of 1001 staged rows have a NULL in the "
            "key (id)" in result.stderr
        )
        assert count(postgres_url, "keyed") == 1000
    assert merge(tmp_path, postgres_url, rows=1000).returncode == 0
    assert count(postgres_url, "keyed") == 1000


def test_merge_into_a_target_without_a_key_on_the_key_columns_is_refused(
    postgres_url: str, tmp_path: Path
) -> None:
    execute(
        postgres_url,
        "CREATE TABLE keyed (id BIGINT, payload TEXT, UNIQUE (id, payload));"
        "INSERT INTO keyed VALUES (1, 'kept')",
    )
    result = merge(tmp_path, postgres_url, rows=10)
    assert result.returncode == 1, result.stderr
    assert "merge needs a primary key or unique constraint on exactly the key columns (id)" in (
        result.stderr
    )
    assert count(postgres_url, "keyed") == 1


def test_truncate_refuses_an_empty_or_collapsed_source_unless_allowed(
    postgres_url: str, tmp_path: Path
) -> None:
    def truncate(**options: Any) -> Any:
        path = config(tmp_path, postgres_url, "slow_orders", **options)
        return run_pipeline(["20240115", "slow_orders", "truncate", path], tmp_path, **JOBS_ENV)

    assert truncate(rows=1000).returncode == 0
    for rows, message in [
        (0, "guard 'min_rows' refused to publish: 0 rows staged, at least 1 required"),
        (499, "guard 'min_fraction' refused to publish: 499 rows staged would replace 1000"),
    ]:
        result = truncate(rows=rows)
        assert result.returncode == 1, result.stderr
        assert message in result.stderr
        assert count(postgres_url, "orders") == 1000
    assert truncate(rows=100, guards={"min_fraction": 0.1}).returncode == 0
    assert count(postgres_url, "orders") == 100
    assert truncate(rows=0, guards={"min_rows": 0, "min_fraction": 0}).returncode == 0
    assert count(postgres_url, "orders") == 0
