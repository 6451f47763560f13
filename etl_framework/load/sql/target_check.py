"""Checks of a SQL target table that run before anything is touched (read only).

`target_problems` is what `TableTransferJob.config_problems` asks before the run is
recorded in the ledger:

- the name is a valid identifier (``table`` or ``schema.table``);
- the schema is not a temporary one: on SQLite ``temp``/``temporary`` is the
  connection's own temporary database and on PostgreSQL ``pg_temp`` the session's, so
  a table published there would be gone when the run ends;
- on SQLite the only schema is ``main`` (the connector attaches no other database);
- with a (read-only) look at the database: the schema exists, and no existing table
  differs from the target only by case (``ORDERS`` next to ``orders``: SQLite would
  treat them as one table, PostgreSQL as two; either way the run would not do what
  the name suggests). A database that cannot be reached now is not a problem here:
  the run reports it as it always did.

`case_conflict` is also checked when the run reaches the target, so a conflict that
appeared after the check is still refused cleanly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from etl_framework.exceptions import ConfigError
from etl_framework.identifiers import InvalidIdentifierError, split_table_name

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine, Inspector

TEMPORARY_SCHEMAS: dict[str, frozenset[str]] = {
    "sqlite": frozenset({"temp", "temporary"}),
    "postgresql": frozenset({"pg_temp"}),
}
"""Schemas whose tables vanish with the connection, per dialect (matched ignoring case;
PostgreSQL's ``pg_temp_N`` too)."""
SQLITE_SCHEMAS = frozenset({"main"})
"""The schemas a SQLite target may name."""
PREFLIGHT_CONNECT_TIMEOUT_SECONDS = 10
"""How long the read-only check waits for a PostgreSQL connection before giving up
(the run then goes ahead and reports an unreachable database itself)."""


class TargetCaseError(ConfigError):
    """The target differs only by case from an existing table."""

    def __init__(self, target: str, existing: str) -> None:
        self.target = target
        self.existing = existing
        super().__init__(
            f"target table {target!r} differs only by case from the existing table "
            f"{existing!r}: name it exactly ({existing!r}) or choose another name"
        )


def is_temporary_schema(backend: str, schema: str) -> bool:
    lowered = schema.lower()
    return lowered in TEMPORARY_SCHEMAS.get(backend, frozenset()) or (
        backend == "postgresql" and lowered.startswith("pg_temp_")
    )


def static_problems(backend: str, name: object) -> list[str]:
    """Problems of the target name alone (no database needed)."""
    try:
        schema, _table = split_table_name(name)  # type: ignore[arg-type]
    except InvalidIdentifierError as exc:
        return [str(exc)]
    if schema is None:
        return []
    if is_temporary_schema(backend, schema):
        return [
            f"{name!r} is in the temporary schema {schema!r}: the table would vanish when "
            "the run's connection closes; use a permanent schema"
        ]
    if backend == "sqlite" and schema.lower() not in SQLITE_SCHEMAS:
        return [
            f"{name!r}: SQLite has no schema {schema!r} (name the table alone or as main.<table>)"
        ]
    return []


def case_conflict(inspector: Inspector, name: str) -> str | None:
    """The existing table that differs from ``name`` only by case, if there is one and no
    table of exactly that name exists."""
    schema, table = split_table_name(name)
    names = inspector.get_table_names(schema=schema)
    if table in names:
        return None
    for existing in names:
        if existing.lower() == table.lower():
            return f"{schema}.{existing}" if schema else existing
    return None


def check_case(inspector: Inspector, name: str) -> None:
    """Raise `TargetCaseError` if ``name`` differs only by case from an existing table."""
    existing = case_conflict(inspector, name)
    if existing is not None:
        raise TargetCaseError(name, existing)


def target_problems(url: str, name: str, connect_args: dict[str, Any] | None = None) -> list[str]:
    """Everything wrong with target ``name`` in the database at ``url`` (reads only)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        return []  # the URL itself is reported by the config validation
    problems = static_problems(backend, name)
    if problems:
        return problems
    engine = read_only_engine(url, backend, connect_args or {})
    if engine is None:
        return []
    return _inspected_problems(engine, name)


def _inspected_problems(engine: Engine, name: str) -> list[str]:
    import sqlalchemy as sa
    from sqlalchemy.exc import SQLAlchemyError

    schema, _table = split_table_name(name)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            if schema is not None and not inspector.has_schema(schema):
                return [f"schema {schema!r} of target {name!r} does not exist"]
            if conn.dialect.name == "postgresql":
                from etl_framework.load.sql.pg_catalog import describe_table

                existing = describe_table(conn, name).case_variant
            else:
                existing = case_conflict(inspector, name)
            if existing is not None:
                return [str(TargetCaseError(name, existing))]
    except (SQLAlchemyError, OSError):
        return []  # unreachable or refused now: the run finds and reports it
    finally:
        engine.dispose()
    return []


def read_only_engine(url: str, backend: str, connect_args: dict[str, Any]) -> Engine | None:
    """An engine that cannot create anything: SQLite opened read-only (and only if the
    file exists), PostgreSQL with a connect timeout. None: nothing to look at."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import NoSuchModuleError

    parsed = make_url(url)
    try:
        if backend == "sqlite":
            from pathlib import Path

            database = parsed.database or ""
            if database in ("", ":memory:") or database.startswith("file:"):
                return None
            path = Path(database)
            if not path.is_file():
                return None  # a new warehouse: nothing exists yet, nothing to find
            from urllib.parse import quote

            return sa.create_engine(
                f"sqlite:///file:{quote(str(path.resolve()))}?mode=ro&uri=true",
                poolclass=sa.pool.NullPool,
            )
        args = dict(connect_args)
        if backend == "postgresql":
            args.setdefault("connect_timeout", PREFLIGHT_CONNECT_TIMEOUT_SECONDS)
        from etl_framework.db import dialect_options

        return sa.create_engine(
            parsed, connect_args=args, poolclass=sa.pool.NullPool, **dialect_options(parsed)
        )
    except (NoSuchModuleError, ModuleNotFoundError):
        return None  # a missing driver is reported when the run opens the connection
