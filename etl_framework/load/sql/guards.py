"""The guard queries on a SQL staging table (PostgreSQL, SQLite).

The settings and their defaults (`GuardConfig`) and the numeric checks are
backend-neutral and live in `etl_framework.load.guards`; these are the checks that
need to query the staged rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from etl_framework.exceptions import GuardError
from etl_framework.identifiers import quote_table
from etl_framework.load.guards import null_keys_message
from etl_framework.load.sql.schema import column_list

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def check_null_keys(conn: Connection, table: str, keys: Sequence[str], staged: int) -> None:
    """Refuse staged rows with a NULL in any key column (before a merge): one count."""
    if not keys:
        return
    condition = " OR ".join(f"{column_list(conn, [k])} IS NULL" for k in keys)
    null_rows = int(
        conn.exec_driver_sql(
            f"SELECT COUNT(*) FROM {quote_table(conn.dialect, table)} WHERE {condition}"
        ).scalar_one()
    )
    if null_rows:
        raise GuardError("null_keys", null_keys_message(null_rows, staged, keys))


def _query(
    conn: Connection, sql: str, where: str, params: dict[str, Any] | None, bind_type: Any
) -> Any:
    from sqlalchemy import bindparam, text

    if where:
        sql += f" WHERE {where}"
    statement = text(sql).bindparams(
        *(bindparam(k, v, type_=bind_type) for k, v in (params or {}).items())
    )
    return conn.execute(statement).one()


def check_not_all_null(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    staged: int,
    allowed: Sequence[str],
    where: str = "",
    params: dict[str, Any] | None = None,
    bind_type: Any = None,
) -> None:
    """One query; each column's sub-query stops at its first non-NULL value, so this
    costs a few index-free row reads, not a scan, unless a column really is all NULL."""
    checked = [c for c in columns if c not in set(allowed)]
    if staged == 0 or not checked:
        return
    source = quote_table(conn.dialect, table)
    condition = f"({where}) AND " if where else ""
    probes = ", ".join(
        f"(SELECT 1 FROM {source} WHERE {condition}{column_list(conn, [c])} IS NOT NULL LIMIT 1)"
        for c in checked
    )
    row = _query(conn, f"SELECT {probes}", "", params, bind_type)
    empty = [c for c, found in zip(checked, row, strict=True) if found is None]
    if empty:
        raise GuardError(
            "all_null",
            f"column(s) {', '.join(empty)} are NULL in all {staged} staged rows "
            "(list them in guards.all_null_allowed if that is expected)",
        )


def check_unique_keys(
    conn: Connection,
    table: str,
    keys: Sequence[str],
    where: str = "",
    params: dict[str, Any] | None = None,
    bind_type: Any = None,
) -> None:
    if not keys:
        return
    cols = column_list(conn, keys)
    inner = f"SELECT {cols}, COUNT(*) AS n FROM {quote_table(conn.dialect, table)}"
    if where:
        inner += f" WHERE {where}"
    row = _query(
        conn,
        f"SELECT COUNT(*), MIN(n) FROM ({inner} GROUP BY {cols} HAVING COUNT(*) > 1) d",
        "",
        params,
        bind_type,
    )
    duplicated, _ = row
    if duplicated:
        raise GuardError(
            "unique_keys",
            f"{duplicated} value(s) of key ({', '.join(keys)}) occur more than once "
            "in the staged rows",
        )


def count_rows(conn: Connection, table: str) -> int:
    return int(
        conn.exec_driver_sql(
            f"SELECT COUNT(*) FROM {quote_table(conn.dialect, table)}"
        ).scalar_one()
    )
