"""Target tables from a field mapping: create when missing, check when present.

`check_target` runs before any data moves and changes nothing: an existing target
must agree with the mapping column by column (name, type, nullability; key columns
count as NOT NULL), else `SchemaMismatchError` lists every difference. `ensure_target`
checks again and applies what the check planned (``CREATE TABLE`` of a missing
target from the mapping; with ``add_missing_columns=True`` ``ALTER TABLE ... ADD
COLUMN`` of the nullable mapped columns the target lacks). Strategies run it inside
the publish transaction, so a run that fails leaves no new table or column behind.
`referencing_foreign_keys` lists the constraints of other tables that point at the
target (a full or window replace deletes rows they may reference).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from etl_framework.exceptions import SchemaMismatchError
from etl_framework.identifiers import quote, quote_table, split_table_name, validate_identifier
from etl_framework.mapping import ColumnKind, ColumnType, FieldMapping

if TYPE_CHECKING:
    from types import ModuleType

    from sqlalchemy.engine import Connection, Dialect


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
            # an integer primary key would otherwise become (BIG)SERIAL on PostgreSQL
            autoincrement=False,
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


def _creatable(dialect: Dialect, table: sa.Table) -> sa.Table:
    if dialect.name != "postgresql" and table._prefixes:
        table = table.to_metadata(sa.MetaData())
        table._prefixes = []
    return table


def create_table(conn: Connection, table: sa.Table) -> None:
    """``CREATE TABLE`` (UNLOGGED only on PostgreSQL)."""
    _creatable(conn.dialect, table).create(conn)


def create_table_ddl(dialect: Dialect, table: sa.Table) -> list[str]:
    """The statements `create_table` executes: ``CREATE TABLE`` and its indexes."""
    from sqlalchemy.schema import CreateIndex, CreateTable

    table = _creatable(dialect, table)
    return [
        str(CreateTable(table).compile(dialect=dialect)),
        *(str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes),
    ]


def add_column_sql(dialect: Dialect, name: str, mapping: FieldMapping, column_name: str) -> str:
    """The ``ALTER TABLE ... ADD COLUMN`` of `ensure_target` for a missing column."""
    ddl = mapping.field(column_name).type.to_sqlalchemy().compile(dialect=dialect)
    return (
        f"ALTER TABLE {quote_table(dialect, name)} ADD COLUMN {quote(dialect, column_name)} {ddl}"
    )


def table_exists(conn: Connection, name: str) -> bool:
    schema, table = split_table_name(name)
    return bool(sa.inspect(conn).has_table(table, schema=schema))


@dataclass(frozen=True)
class SchemaCheck:
    """What `check_target` found, and what `ensure_target` does about it."""

    created: bool = False
    """The target is missing and is created from the mapping."""
    added_columns: tuple[str, ...] = ()
    """Mapped columns the target lacks, added (``add_missing_columns``)."""
    extra_columns: tuple[str, ...] = ()
    unique_keys: tuple[tuple[str, ...], ...] | None = None
    """The column lists of the existing target's primary key, unique constraints and
    unique indexes (none partial or on an expression), when the check read them in its
    own query (PostgreSQL); None: ask `unique_key_exists`."""
    referencing_keys: tuple[ReferencingKey, ...] | None = None
    """The foreign keys that reference the existing target, when the check read them
    (PostgreSQL); None: ask `referencing_foreign_keys`."""

    def has_unique_key(self, key_columns: Sequence[str]) -> bool | None:
        """Whether one of `unique_keys` is exactly ``key_columns`` (any order, any case);
        None when they were not read."""
        if self.unique_keys is None:
            return None
        wanted = {k.lower() for k in key_columns}
        return any({c.lower() for c in key} == wanted for key in self.unique_keys if key)


def check_target(
    conn: Connection,
    mapping: FieldMapping,
    name: str,
    *,
    key_columns: Sequence[str] = (),
    add_missing_columns: bool = False,
    allow_extra_nullable_columns: bool = False,
) -> SchemaCheck:
    """Whether the target agrees with the mapping, and what would have to change.

    Changes nothing.

    Raises:
        SchemaMismatchError: listing every column that disagrees.
    """
    from etl_framework.load.sql.target_check import check_case

    schema, table = split_table_name(name)
    found = None
    if conn.dialect.name == "postgresql":
        from etl_framework.load.sql.pg_catalog import describe_table
        from etl_framework.load.sql.target_check import TargetCaseError

        found = describe_table(conn, name)  # one query instead of the inspector's six
        if found.case_variant is not None:
            raise TargetCaseError(name, found.case_variant)
        if not found.exists:
            return SchemaCheck(created=True)
        columns = list(found.columns)
    else:
        if conn.dialect.name == "sqlite":
            _sqlite_decimal()  # registers its column type names before reflecting
        inspector = sa.inspect(conn)
        check_case(inspector, name)  # ORDERS next to orders: refused, never half-resolved
        if not inspector.has_table(table, schema=schema):
            return SchemaCheck(created=True)
        columns = inspector.get_columns(table, schema=schema)  # type: ignore[assignment]
    keys = set(key_columns) or set(mapping.primary_key)
    reflected = {c["name"]: c for c in columns}
    by_lower = {n.lower(): c for n, c in reflected.items()}
    problems: list[str] = []
    missing: list[str] = []
    for f in mapping.fields:
        column = reflected.get(f.target_column) or by_lower.get(f.target_column.lower())
        if column is None:
            missing.append(f.target_column)
            continue
        if column["name"] != f.target_column and conn.dialect.name != "sqlite":
            # every statement quotes the mapping's spelling; only SQLite ignores case
            problems.append(
                f"column {f.target_column!r} is spelled {column['name']!r} in the target "
                "(quoted names are case-sensitive: use the target's spelling in the mapping)"
            )
            continue
        problem = type_problem(f.type, column["type"], conn.dialect.name)
        if problem:
            problems.append(
                f"column {f.target_column!r} is {column['type']}, mapping says {f.type} ({problem})"
            )
        # key columns are NOT NULL in a target built from the mapping (build_table)
        nullable = f.nullable and f.target_column not in keys
        if nullable and not column.get("nullable", True) and column.get("default") is None:
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
    return SchemaCheck(
        added_columns=tuple(missing),
        extra_columns=tuple(extra),
        unique_keys=found.unique_keys if found else None,
        referencing_keys=found.referencing_keys if found else None,
    )


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
    """`check_target`, then create the missing target or add the missing columns.

    Run it in the transaction that writes the data: PostgreSQL and SQLite DDL is
    transactional, so a rollback leaves the target as it was (or missing).

    Raises:
        SchemaMismatchError: listing every column that disagrees; nothing is changed.
    """
    check = check_target(
        conn,
        mapping,
        name,
        key_columns=key_columns,
        add_missing_columns=add_missing_columns,
        allow_extra_nullable_columns=allow_extra_nullable_columns,
    )
    if check.created:
        create_table(
            conn,
            build_table(mapping, name, key_columns=key_columns, index_columns=index_columns),
        )
    for column_name in check.added_columns:
        conn.exec_driver_sql(add_column_sql(conn.dialect, name, mapping, column_name))
    return check


@dataclass(frozen=True)
class ReferencingKey:
    """A foreign key of another table (or the target itself) that references the target."""

    name: str
    table: str
    on_delete: str
    """``no action``, ``restrict``, ``cascade``, ``set null`` or ``set default``."""
    deferrable: bool

    @property
    def can_defer(self) -> bool:
        """Whether deferring it to the commit lets rows be deleted and inserted again.

        Only a NO ACTION check can be deferred; the other actions fire at once.
        """
        return self.deferrable and self.on_delete == "no action"


PG_ACTIONS = {
    "a": "no action",
    "r": "restrict",
    "c": "cascade",
    "n": "set null",
    "d": "set default",
}


def referencing_foreign_keys(conn: Connection, name: str) -> list[ReferencingKey]:
    """Enforced foreign keys that reference the (existing) target table ``name``.

    On SQLite only while ``PRAGMA foreign_keys`` is on (otherwise none is enforced);
    SQLite can defer any NO ACTION key (``PRAGMA defer_foreign_keys``).
    """
    dialect = conn.dialect.name
    if dialect == "postgresql":
        rows = conn.execute(
            sa.text(
                "SELECT conname, conrelid::regclass::text, confdeltype, condeferrable "
                "FROM pg_constraint WHERE contype = 'f' AND confrelid = CAST(:t AS regclass) "
                "ORDER BY 2, 1"
            ),
            {"t": quote_table(conn.dialect, name)},
        ).all()
        return [
            ReferencingKey(str(n), str(t), PG_ACTIONS.get(str(a), str(a)), bool(d))
            for n, t, a, d in rows
        ]
    if dialect == "sqlite":
        if not conn.exec_driver_sql("PRAGMA foreign_keys").scalar():
            return []
        schema, table = split_table_name(name)
        found: list[ReferencingKey] = []
        for other in sa.inspect(conn).get_table_names(schema=schema):
            pragma = f"PRAGMA foreign_key_list({quote(conn.dialect, other)})"
            for row in conn.exec_driver_sql(pragma).mappings():
                if str(row["table"]).lower() == table.lower():
                    action = str(row["on_delete"]).lower()
                    found.append(ReferencingKey(f"fk{row['id']}", other, action, True))
        return found
    return []


def unique_key_exists(conn: Connection, name: str, key_columns: Sequence[str]) -> bool:
    """Whether the target has a primary key or unique constraint/index on exactly the keys.

    Asks in that order and stops at the first match (a primary key on the keys, the
    common case, costs one catalog query instead of five)."""
    schema, table = split_table_name(name)
    wanted = {k.lower() for k in key_columns}
    inspector = sa.inspect(conn)

    def matches(cols: Sequence[str | None]) -> bool:
        # an expression (None) in an index means it is not on exactly the key columns
        return bool(cols) and None not in cols and {str(c).lower() for c in cols} == wanted

    pk = inspector.get_pk_constraint(table, schema=schema)
    if matches(list(pk.get("constrained_columns") or [])):
        return True
    if any(
        matches(list(u["column_names"]))
        for u in inspector.get_unique_constraints(table, schema=schema)
    ):
        return True
    return any(
        matches(list(i["column_names"]))
        for i in inspector.get_indexes(table, schema=schema)
        # a partial index (WHERE ...) is no conflict target for ON CONFLICT (keys)
        if i.get("unique") and not any(k.endswith("_where") for k in i.get("dialect_options", {}))
    )


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
    if dialect == "sqlite" and expected.kind is ColumnKind.NUMERIC:
        problem: str | None = _sqlite_decimal().schema_problem(
            expected.precision, expected.scale, actual
        )
        return problem
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


def _sqlite_decimal() -> ModuleType:
    """`etl_framework.load.sql.sqlite_decimal`, its type names registered for SQLite
    reflection (which imports SQLAlchemy's SQLite dialect: only when SQLite is in use)."""
    from etl_framework.load.sql import sqlite_decimal

    sqlite_decimal.register_reflection()
    return sqlite_decimal
