"""Guards: checks on the staged rows that must pass before anything is published.

A failing guard raises `GuardError` naming the guard and the numbers; the target is
not touched (the publish transaction never starts). Guards are configured per
transfer (``transfers.<name>.guards`` in config for a `TableTransferJob`)::

    guards:
      min_rows: 1000             # fewer staged rows -> refuse
      min_fraction: 0.9          # staged rows >= 90% of the rows they replace
      all_null_allowed: [note]   # mapped columns that may be entirely NULL

The comparison base of ``min_fraction`` is what the run replaces: the whole target
for a full refresh, the window's current rows for a delta. It is skipped while the
target (or window) is empty. Key uniqueness is always checked when rows are
published on key columns (merge; or a target with a primary key), since an
``ON CONFLICT`` or a primary key would fail half-way otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from etl_framework.exceptions import GuardError
from etl_framework.load.identifiers import quote_table
from etl_framework.load.schema import column_list

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


class GuardConfig(BaseModel):
    """Per-transfer guard settings. ``None`` means: the strategy's default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_rows: int | None = Field(default=None, ge=0)
    """Minimum staged rows. Default: 1 for a full refresh (never publish an empty
    table by accident), 0 otherwise."""
    min_fraction: float | None = Field(default=None, ge=0, le=1)
    """Staged rows must be at least this fraction of the rows being replaced."""
    forbid_all_null: bool = True
    """Refuse when a mapped column is NULL in every staged row."""
    all_null_allowed: tuple[str, ...] = ()
    """Columns exempt from ``forbid_all_null``."""
    unique_keys: bool = True
    """Refuse duplicate key values among the staged rows (when there are keys)."""


def check_min_rows(staged: int, minimum: int) -> None:
    if staged < minimum:
        raise GuardError("min_rows", f"{staged} rows staged, at least {minimum} required")


def check_min_fraction(staged: int, current: int, fraction: float | None, scope: str) -> None:
    if fraction is None or current == 0:
        return
    if staged < fraction * current:
        raise GuardError(
            "min_fraction",
            f"{staged} rows staged would replace {current} rows of {scope} "
            f"({staged / current:.1%} < {fraction:.0%})",
        )


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
