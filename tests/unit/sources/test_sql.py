"""SQL sources: streamed query results, window bounds always bound as parameters."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl_framework.exceptions import SourceError
from etl_framework.sources.sql import query_records, window_params
from etl_framework.window import Window


def test_query_records_binds_window_parameters(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 's.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE src (id INTEGER, day DATE)")
        conn.exec_driver_sql(
            "INSERT INTO src VALUES (1, '2024-01-01'), (2, '2024-01-02'), (3, '2024-01-03')"
        )
    window = Window(dt.date(2024, 1, 2), dt.date(2024, 1, 3))
    params = window_params(window)
    rows = list(
        query_records(
            engine,
            "SELECT id, day FROM src WHERE day >= :start AND day < :end",
            params,
            batch_size=1,
        )
    )
    assert rows == [{"id": 2, "day": "2024-01-02"}]
    # a hostile value is only ever a parameter
    hostile = list(
        query_records(engine, "SELECT id FROM src WHERE day = :d", {"d": "x'; DROP TABLE src; --"})
    )
    assert hostile == []
    assert list(query_records(engine, "SELECT COUNT(*) AS n FROM src")) == [{"n": 3}]
    engine.dispose()


def test_query_error_is_a_source_error(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 's.db'}")
    with pytest.raises(SourceError, match="source query failed"):
        list(query_records(engine, "SELECT * FROM missing_table"))
    engine.dispose()


def test_window_params_need_a_bounded_window() -> None:
    with pytest.raises(SourceError, match="unbounded"):
        window_params(Window.unbounded())
    assert window_params(Window(dt.date(2024, 1, 1), dt.date(2024, 1, 2)), as_timestamps=True)[
        "end"
    ] == dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
