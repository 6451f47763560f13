"""The SQL query source streams from PostgreSQL (server-side cursor), window bound."""

from __future__ import annotations

import datetime as dt
import tracemalloc

import sqlalchemy as sa

from etl_framework.sources.sql import query_records, window_params
from etl_framework.window import Window


def test_query_records_streams_with_a_server_side_cursor(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE src AS SELECT i AS id, DATE '2024-01-01' + mod(i, 10) AS day, "
                "repeat('x', 200) AS pad FROM generate_series(1, 150000) i"
            )
        window = Window(dt.date(2024, 1, 2), dt.date(2024, 1, 4))
        sql = "SELECT id, day, pad FROM src WHERE day >= :start AND day < :end ORDER BY id"
        tracemalloc.start()
        try:
            count = 0
            days = set()
            for record in query_records(engine, sql, window_params(window), batch_size=2000):
                count += 1
                days.add(record["day"])
                if count == 5000:
                    queries = _other_sessions_queries(postgres_url)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        engine.dispose()
    assert any(q.upper().startswith(("FETCH", "DECLARE")) for q in queries), queries
    assert count == 30_000
    assert days == {dt.date(2024, 1, 2), dt.date(2024, 1, 3)}
    # 30k rows of 200+ bytes would be > 8 MB if fetched at once
    assert peak < 4 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB: the query does not stream"


def _other_sessions_queries(url: str) -> list[str]:
    """The last statement of every other session of this database (a named cursor FETCHes)."""
    probe = sa.create_engine(url)
    try:
        with probe.connect() as conn:
            return [
                q
                for (q,) in conn.exec_driver_sql(
                    "SELECT query FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).all()
            ]
    finally:
        probe.dispose()
