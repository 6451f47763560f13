"""Target tables from a field mapping: create when missing, check when present.

`ensure_target` runs before any data moves. A missing target is created from the
mapping; an existing one must agree with it column by column (name, type,
nullability), else `SchemaMismatchError` lists every difference. With
``add_missing_columns=True`` mapped columns the target lacks are added, if they are
nullable (adding a NOT NULL column to a table with rows cannot work).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from etl_framework.exceptions import SchemaMismatchError
from etl_framework.load.identifiers import quote, quote_table, split_table_name, validate_identifier
from etl_framework.mapping import ColumnKind, ColumnType, FieldMapping

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def build_table(
    mapping: FieldMapping,
    name: str,
    *,
    key_columns: Sequence[str] = (),
    index_columns: Sequence[str] = (),
    staging: bool = False,
    metadata: sa.MetaData | None = None,
) -> sa.Table:
    """A SQLAlchemy `Table` for ``name`` (``schema.table`` allowed) with the mapped columns.

    Staging tables have no constraints (the mapping enforces NOT NULL while
    extracting; key uniqueness is a guard) and are UNLOGGED on PostgreSQL: they are
    rebuilt by the next run if the server crashes, and skipping WAL makes COPY faster.
    """
    schema, table = split_table_name(name)
    keys = tuple(key_columns) or mapping.primary_key
    for key in keys:
        mapping.field(key)  # a ConfigError if the key is not mapped
    columns = [
        sa.Column(
            f.target_column,
            f.type.to_sqlalchemy(),
            nullable=True if staging else (f.nullable and f.target_column not in keys),
        )
        for f in mapping.fields
    ]
    args: list[Any] = list(columns)
    if keys and not staging:
        args.append(sa.PrimaryKeyConstraint(*keys))
    if not staging:
        for column in index_columns:
            mapping.field(column)
            index_name = f"ix_{table}_{column}"
            if len(index_name) > 63:
                index_name = f"ix_{hashlib.sha1(index_name.encode()).hexdigest()[:20]}"
            args.append(sa.Index(index_name, column))
    return sa.Table(
        table,
        metadata if metadata is not None else sa.MetaData(),
        *args,
        schema=schema,
        prefixes=["UNLOGGED"] if staging else [],
    )


def create_table(conn: Connection, table: sa.Table) -> None:
    """``CREATE TABLE`` (UNLOGGED only on PostgreSQL)."""
    if conn.dialect.name != "postgresql" and table._prefixes:
        table = table.to_metadata(sa.MetaData())
        table._prefixes = []
    table.create(conn)


def table_exists(conn: Connection, name: str) -> bool:
    schema, table = split_table_name(name)
    return bool(sa.inspect(conn).has_table(table, schema=schema))


@dataclass(frozen=True)
class SchemaCheck:
    """What `ensure_target` found and did."""

    created: bool = False
    added_columns: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = ()


def ensure_target(
    conn: Connection,
    mapping: FieldMapping,
    name: str,
    *,
    key_columns: Sequence[str] = (),
    index_columns: Sequence[str] = (),
    add_missing_columns: bool = False,
    allow_extra_nullable_columns: bool = False,
) -> SchemaCheck:
    """Create the target from the mapping if missing; else check it agrees with the mapping.

    Raises:
        SchemaMismatchError: listing every column that disagrees; nothing is changed.
    """
    schema, table = split_table_name(name)
    inspector = sa.inspect(conn)
    if not inspector.has_table(table, schema=schema):
        create_table(
            conn,
            build_table(mapping, name, key_columns=key_columns, index_columns=index_columns),
        )
        return SchemaCheck(created=True)
    reflected = {c["name"]: c for c in inspector.get_columns(table, schema=schema)}
    by_lower = {n.lower(): c for n, c in reflected.items()}
    problems: list[str] = []
    missing: list[str] = []
    for f in mapping.fields:
        column = reflected.get(f.target_column) or by_lower.get(f.target_column.lower())
        if column is None:
            missing.append(f.target_column)
            continue
        problem = type_problem(f.type, column["type"], conn.dialect.name)
        if problem:
            problems.append(
                f"column {f.target_column!r} is {column['type']}, mapping says {f.type} ({problem})"
            )
        if f.nullable and not column.get("nullable", True) and column.get("default") is None:
            problems.append(
                f"column {f.target_column!r} is NOT NULL in the target but nullable in the mapping"
            )
    mapped = {c.lower() for c in mapping.columns}
    extra = [n for n in reflected if n.lower() not in mapped]
    for column_name in extra:
        column = reflected[column_name]
        nullable_or_default = column.get("nullable", True) or column.get("default") is not None
        if not (allow_extra_nullable_columns and nullable_or_default):
            problems.append(f"target column {column_name!r} is not in the mapping")
    if missing and not add_missing_columns:
        problems.append(
            "mapped columns missing from the target: "
            + ", ".join(missing)
            + " (set add_missing_columns to add them)"
        )
    elif missing:
        not_null = [c for c in missing if not mapping.field(c).nullable]
        if not_null:
            problems.append(
                "cannot add NOT NULL columns to an existing table: " + ", ".join(not_null)
            )
    if problems:
        raise SchemaMismatchError(name, "; ".join(problems))
    for column_name in missing:
        column_type = mapping.field(column_name).type.to_sqlalchemy()
        ddl = column_type.compile(dialect=conn.dialect)
        conn.exec_driver_sql(
            f"ALTER TABLE {quote_table(conn.dialect, name)} "
            f"ADD COLUMN {quote(conn.dialect, column_name)} {ddl}"
        )
    return SchemaCheck(added_columns=tuple(missing), extra_columns=tuple(extra))


def unique_key_exists(conn: Connection, name: str, key_columns: Sequence[str]) -> bool:
    """Whether the target has a primary key or unique constraint/index on exactly the keys."""
    schema, table = split_table_name(name)
    wanted = {k.lower() for k in key_columns}
    inspector = sa.inspect(conn)
    pk = inspector.get_pk_constraint(table, schema=schema)
    candidates: list[list[str | None]] = [list(pk.get("constrained_columns") or [])]
    candidates += [
        list(u["column_names"]) for u in inspector.get_unique_constraints(table, schema=schema)
    ]
    candidates += [
        list(i["column_names"])
        for i in inspector.get_indexes(table, schema=schema)
        if i.get("unique")
    ]
    return any({str(c).lower() for c in cols if c} == wanted for cols in candidates if cols)


# Reflected SQLAlchemy type class names accepted for each kind, per dialect family.
_COMPATIBLE: dict[ColumnKind, frozenset[str]] = {
    ColumnKind.TEXT: frozenset({"TEXT", "VARCHAR", "STRING", "CLOB"}),
    ColumnKind.VARCHAR: frozenset({"VARCHAR", "TEXT", "STRING", "NVARCHAR", "CHAR"}),
    ColumnKind.SMALLINT: frozenset({"SMALLINT", "INTEGER", "BIGINT"}),
    ColumnKind.INTEGER: frozenset({"INTEGER", "BIGINT"}),
    ColumnKind.BIGINT: frozenset({"BIGINT"}),
    ColumnKind.FLOAT: frozenset({"DOUBLE_PRECISION", "DOUBLE", "FLOAT", "REAL"}),
    ColumnKind.NUMERIC: frozenset({"NUMERIC", "DECIMAL"}),
    ColumnKind.BOOLEAN: frozenset({"BOOLEAN"}),
    ColumnKind.DATE: frozenset({"DATE"}),
    ColumnKind.TIMESTAMP: frozenset({"TIMESTAMP", "DATETIME"}),
    ColumnKind.TIMESTAMPTZ: frozenset({"TIMESTAMP", "DATETIME"}),
    ColumnKind.JSON: frozenset({"JSON", "JSONB"}),
}
# SQLite stores any integer as INTEGER and reflects what the DDL said.
_SQLITE_EXTRA: dict[ColumnKind, frozenset[str]] = {
    ColumnKind.BIGINT: frozenset({"INTEGER"}),
}


def type_problem(expected: ColumnType, actual: Any, dialect: str) -> str | None:
    """Why a reflected column type cannot hold ``expected`` values, or None if it can."""
    class_name = type(actual).__name__.upper()
    accepted = _COMPATIBLE[expected.kind]
    if dialect == "sqlite":
        accepted = accepted | _SQLITE_EXTRA.get(expected.kind, frozenset())
    if class_name not in accepted:
        return "incompatible type"
    kind = expected.kind
    if kind is ColumnKind.VARCHAR and class_name in {"VARCHAR", "NVARCHAR", "CHAR"}:
        length = getattr(actual, "length", None)
        if length is not None and expected.length is not None and length < expected.length:
            return f"length {length} is shorter than {expected.length}"
    if kind is ColumnKind.TEXT and class_name == "VARCHAR" and getattr(actual, "length", None):
        return "a bounded varchar cannot hold unbounded text"
    if kind is ColumnKind.NUMERIC and expected.precision is not None:
        precision = getattr(actual, "precision", None)
        scale = getattr(actual, "scale", None) or 0
        if precision is not None and (
            scale != (expected.scale or 0) or precision < expected.precision
        ):
            return f"numeric({precision},{scale}) differs"
    if dialect == "postgresql" and kind in (ColumnKind.TIMESTAMP, ColumnKind.TIMESTAMPTZ):
        has_tz = bool(getattr(actual, "timezone", False))
        if has_tz != (kind is ColumnKind.TIMESTAMPTZ):
            return "time zone awareness differs"
    return None


def column_list(conn: Connection, columns: Sequence[str]) -> str:
    """Quoted, comma-separated column names."""
    return ", ".join(quote(conn.dialect, validate_identifier(c, "column name")) for c in columns)
