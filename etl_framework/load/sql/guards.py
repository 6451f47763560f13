"""The guard queries on a SQL staging table (PostgreSQL, SQLite).

The settings and their defaults (`GuardConfig`) and the numeric checks are
backend-neutral and live in `etl_framework.load.guards`; these are the checks that
need to query the staged rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from etl_framework.exceptions import GuardError
from etl_framework.identifiers import quote, quote_table
from etl_framework.load.guards import null_keys_message

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Dialect
    from sqlalchemy.sql.elements import TextClause

# Builders: the statements the checks below execute, also listed by ``pipeline --plan``
# (`WriteStrategy.describe`), so plan and run cannot disagree.


def _columns(dialect: Dialect, columns: Sequence[str]) -> str:
    return ", ".join(quote(dialect, c) for c in columns)


def null_keys_sql(dialect: Dialect, table: str, keys: Sequence[str]) -> str:
    condition = " OR ".join(f"{quote(dialect, k)} IS NULL" for k in keys)
    return f"SELECT COUNT(*) FROM {quote_table(dialect, table)} WHERE {condition}"


def count_rows_sql(dialect: Dialect, table: str) -> str:
    return f"SELECT COUNT(*) FROM {quote_table(dialect, table)}"


def bound_text(sql: str, params: dict[str, Any] | None, bind_type: Any) -> TextClause:
    """``sql`` with ``params`` bound as ``bind_type`` (the window column's type)."""
    from sqlalchemy import bindparam, text

    return text(sql).bindparams(
        *(bindparam(k, v, type_=bind_type) for k, v in (params or {}).items())
    )


def not_all_null_checked(columns: Sequence[str], allowed: Sequence[str]) -> list[str]:
    """The columns `check_not_all_null` probes."""
    return [c for c in columns if c not in set(allowed)]


def not_all_null_statement(
    dialect: Dialect,
    table: str,
    checked: Sequence[str],
    where: str = "",
    params: dict[str, Any] | None = None,
    bind_type: Any = None,
) -> TextClause:
    source = quote_table(dialect, table)
    condition = f"({where}) AND " if where else ""
    probes = ", ".join(
        f"(SELECT 1 FROM {source} WHERE {condition}{quote(dialect, c)} IS NOT NULL LIMIT 1)"
        for c in checked
    )
    return bound_text(f"SELECT {probes}", params, bind_type)


def unique_keys_statement(
    dialect: Dialect,
    table: str,
    keys: Sequence[str],
    where: str = "",
    params: dict[str, Any] | None = None,
    bind_type: Any = None,
) -> TextClause:
    cols = _columns(dialect, keys)
    inner = f"SELECT {cols}, COUNT(*) AS n FROM {quote_table(dialect, table)}"
    if where:
        inner += f" WHERE {where}"
    return bound_text(
        f"SELECT COUNT(*), MIN(n) FROM ({inner} GROUP BY {cols} HAVING COUNT(*) > 1) d",
        params,
        bind_type,
    )


def check_null_keys(conn: Connection, table: str, keys: Sequence[str], staged: int) -> None:
    """Refuse staged rows with a NULL in any key column (before a merge): one count."""
    if not keys:
        return
    null_rows = int(conn.exec_driver_sql(null_keys_sql(conn.dialect, table, keys)).scalar_one())
    if null_rows:
        raise GuardError("null_keys", null_keys_message(null_rows, staged, keys))


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
    checked = not_all_null_checked(columns, allowed)
    if staged == 0 or not checked:
        return
    statement = not_all_null_statement(conn.dialect, table, checked, where, params, bind_type)
    row = conn.execute(statement).one()
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
    statement = unique_keys_statement(conn.dialect, table, keys, where, params, bind_type)
    duplicated, _ = conn.execute(statement).one()
    if duplicated:
        raise GuardError(
            "unique_keys",
            f"{duplicated} value(s) of key ({', '.join(keys)}) occur more than once "
            "in the staged rows",
        )


def count_rows(conn: Connection, table: str) -> int:
    return int(conn.exec_driver_sql(count_rows_sql(conn.dialect, table)).scalar_one())
