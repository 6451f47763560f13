"""A streaming SQL query source.

`query_records` runs one query with bound parameters and yields each row as a dict.
It streams: ``stream_results`` asks the driver for a server-side cursor (psycopg
named cursor on PostgreSQL) and ``yield_per`` fetches ``batch_size`` rows at a
time, so memory does not grow with the result. The query text is the developer's
(code or config, never data); every value, the window bounds included, is a bound
parameter::

    def source(self):
        return query_records(
            self.context.connections.get("shop", SqlConnector),
            "SELECT id, total, created_at FROM orders "
            "WHERE created_at >= :start AND created_at < :end",
            window_params(self.context.window),
        )
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from etl_framework.exceptions import SourceError, SourceUnavailableError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from etl_framework.connectors.sql import SqlConnector
    from etl_framework.window import Window

DEFAULT_FETCH_ROWS = 10_000


def window_params(window: Window, *, as_timestamps: bool = False) -> dict[str, Any]:
    """``{"start": ..., "end": ...}`` for a bounded window (dates, or midnight UTC)."""
    if window.start is None or window.end is None:
        raise SourceError(f"window {window} is unbounded: a windowed query needs both bounds")
    if not as_timestamps:
        return {"start": window.start, "end": window.end}
    return {
        "start": dt.datetime.combine(window.start, dt.time(), tzinfo=dt.UTC),
        "end": dt.datetime.combine(window.end, dt.time(), tzinfo=dt.UTC),
    }


def query_records(
    source: SqlConnector | Engine,
    sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    batch_size: int = DEFAULT_FETCH_ROWS,
) -> Iterator[dict[str, Any]]:
    """Each row of ``sql`` (``:name`` placeholders bound from ``params``), as a dict."""
    import sqlalchemy as sa
    from sqlalchemy.exc import DBAPIError, OperationalError

    engine = source if isinstance(source, sa.engine.Engine) else source.engine
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(
                sa.text(sql), dict(params or {})
            )
            keys = list(result.keys())
            for row in result:
                yield dict(zip(keys, row, strict=True))
    except DBAPIError as exc:
        # Lost connections are worth a retry; SQLite's OperationalError is mostly SQL errors.
        if exc.connection_invalidated or (
            isinstance(exc, OperationalError) and engine.dialect.name != "sqlite"
        ):
            raise SourceUnavailableError(f"source query failed: {exc.orig}") from exc
        raise SourceError(f"source query failed: {exc.orig}") from exc
