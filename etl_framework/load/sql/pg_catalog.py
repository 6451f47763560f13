"""A PostgreSQL target as `check_target` and the strategies need it, in one catalog query.

SQLAlchemy's inspector answers the same questions in six queries (the table names
for the case check, the table's existence, its columns, its primary key, then unique
constraints and indexes) and compiles each of them first: ~20 ms per run before the
first row, and ~1 MB of compiled reflection SQL. `describe_table` reads, in one round
trip, the relations whose name equals the target's ignoring case (resolved as the
run's statements resolve it: the schema named, else the search path), the exact one's
columns, the column lists of its primary key, unique constraints and unique indexes,
and the foreign keys of other tables that reference it.

Column types come back as the SQLAlchemy types the inspector would give
(`reflected_type`), so the schema check and its messages do not depend on which
path read them; `tests/integration/postgres/test_pg_catalog.py` compares both
paths on every type a mapping can declare and the edge cases around them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from etl_framework.identifiers import split_table_name

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from etl_framework.load.sql.schema import ReferencingKey

_TABLE_KINDS = ("r", "p")
"""Plain and partitioned tables: what a case variant must be to conflict (as the
inspector's table names are)."""

DESCRIBE_SQL = """
SELECT c.relname, c.relkind,
  (SELECT json_agg(json_build_array(
            a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
            a.atthasdef AND a.attgenerated = '')
          ORDER BY a.attnum)
     FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
  (SELECT json_agg(ARRAY(
            SELECT att.attname
              FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
              JOIN pg_catalog.pg_attribute att
                ON att.attrelid = c.oid AND att.attnum = k.attnum
             ORDER BY k.ord))
     FROM pg_catalog.pg_index i
    WHERE i.indrelid = c.oid AND i.indisunique AND i.indpred IS NULL
      AND i.indexprs IS NULL) AS unique_keys,
  (SELECT json_agg(json_build_array(
            f.conname, f.conrelid::regclass::text, f.confdeltype, f.condeferrable)
          ORDER BY f.conrelid::regclass::text, f.conname)
     FROM pg_catalog.pg_constraint f
    WHERE f.contype = 'f' AND f.confrelid = c.oid) AS referencing
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE lower(c.relname) = lower(%(table)s)
  AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
  AND CASE WHEN CAST(%(schema)s AS text) IS NULL THEN pg_catalog.pg_table_is_visible(c.oid)
           ELSE n.nspname = %(schema)s END
"""


@dataclass(frozen=True)
class TableDescription:
    """What `describe_table` found for one target name."""

    exists: bool
    """A table, view or foreign table of exactly that name (the inspector's has_table)."""
    case_variant: str | None = None
    """A table whose name differs only by case (``schema.name`` when a schema was
    named), when none has exactly the name."""
    columns: tuple[dict[str, Any], ...] = ()
    """As the inspector's ``get_columns``: ``name``, ``type``, ``nullable``, ``default``
    (a marker string when there is one: only its presence is read)."""
    unique_keys: tuple[tuple[str, ...], ...] = ()
    referencing_keys: tuple[ReferencingKey, ...] = ()


def describe_table(conn: Connection, name: str) -> TableDescription:
    """The target ``name`` (``schema.table`` allowed) in one catalog query."""
    from etl_framework.load.sql.schema import PG_ACTIONS, ReferencingKey

    schema, table = split_table_name(name)
    rows = conn.exec_driver_sql(DESCRIBE_SQL, {"table": table, "schema": schema}).all()
    exact = next((r for r in rows if r[0] == table), None)
    if exact is None:
        variant = next((str(r[0]) for r in rows if r[1] in _TABLE_KINDS), None)
        if variant is not None and schema:
            variant = f"{schema}.{variant}"
        return TableDescription(exists=False, case_variant=variant)
    _relname, _kind, columns, unique_keys, referencing = exact
    return TableDescription(
        exists=True,
        columns=tuple(
            {
                "name": column_name,
                "type": reflected_type(format_type),
                "nullable": bool(nullable),
                "default": "(default)" if has_default else None,
            }
            for column_name, format_type, nullable, has_default in columns or ()
        ),
        unique_keys=tuple(tuple(key) for key in unique_keys or ()),
        referencing_keys=tuple(
            ReferencingKey(str(n), str(t), PG_ACTIONS.get(str(a), str(a)), bool(d))
            for n, t, a, d in referencing or ()
        ),
    )


_ARGS = re.compile(r"\((.*)\)")
_ARRAY = re.compile(r"((?:\[\])*)$")


def reflected_type(format_type: str) -> Any:
    """The SQLAlchemy type the PostgreSQL inspector gives for ``format_type`` output
    (``character varying(20)``, ``numeric(12,2)``, ``timestamp(3) with time zone``...).

    Arrays, enums and domains come back as types no mapping kind accepts: the schema
    check calls them incompatible, as it does with the inspector's ARRAY, ENUM and
    DOMAIN.
    """
    from sqlalchemy import types as sqltypes
    from sqlalchemy.dialects import postgresql as pg
    from sqlalchemy.dialects.postgresql.base import ischema_names

    if _ARRAY.search(format_type).group(1):  # type: ignore[union-attr]  # always matches
        return pg.ARRAY(sqltypes.NullType())
    found = _ARGS.search(format_type)
    args = [a.strip() for a in found.group(1).split(",")] if found else []
    base = _ARGS.sub("", format_type).strip()
    if base == "numeric":
        return pg.NUMERIC(int(args[0]), int(args[1])) if len(args) == 2 else pg.NUMERIC()
    if base == "double precision":
        return pg.DOUBLE_PRECISION(53)
    if base in ("timestamp with time zone", "timestamp without time zone", "timestamp"):
        precision = int(args[0]) if len(args) == 1 else None
        return pg.TIMESTAMP(timezone=base.endswith("with time zone"), precision=precision)
    if base in ("time with time zone", "time without time zone", "time"):
        precision = int(args[0]) if len(args) == 1 else None
        return pg.TIME(timezone=base.endswith("with time zone"), precision=precision)
    type_class = ischema_names.get(base)
    if type_class is None:
        return sqltypes.NullType()
    try:
        return type_class(*(int(a) for a in args))
    except (TypeError, ValueError):
        return type_class()


__all__ = ["DESCRIBE_SQL", "TableDescription", "describe_table", "reflected_type"]
