"""Validating and quoting SQL identifiers (table, schema and column names).

Names come from config and code, never from data. They must match a strict
pattern (ASCII letters, digits, underscore; not starting with a digit; at most 63
characters, PostgreSQL's limit) and are then quoted by the target dialect anyway.
Anything else is refused before a statement is built, so a hostile name such as
``orders; DROP TABLE x`` is never part of SQL text.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from etl_framework.exceptions import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect

IDENTIFIER_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
"""What we accept as a table/column name. Also valid in BigQuery."""


class InvalidIdentifierError(ConfigError):
    """A table or column name that does not match `IDENTIFIER_PATTERN`."""

    def __init__(self, name: object, what: str = "identifier") -> None:
        self.name = name
        self.what = what
        super().__init__(
            f"invalid {what} {name!r}: use 1-63 ASCII letters, digits or underscores, "
            "not starting with a digit"
        )


def validate_identifier(name: object, what: str = "identifier") -> str:
    """Return ``name`` if it is an acceptable identifier, else raise InvalidIdentifierError."""
    if not isinstance(name, str) or IDENTIFIER_PATTERN.fullmatch(name) is None:
        raise InvalidIdentifierError(name, what)
    return name


def split_table_name(name: str) -> tuple[str | None, str]:
    """``schema.table`` or ``table`` -> (schema or None, table), both validated."""
    if not isinstance(name, str):
        raise InvalidIdentifierError(name, "table name")
    schema, dot, table = name.rpartition(".")
    if not dot:
        return None, validate_identifier(name, "table name")
    return validate_identifier(schema, "schema name"), validate_identifier(table, "table name")


def quote(dialect: Dialect, name: str) -> str:
    """A validated identifier, always quoted by ``dialect`` (so case is preserved)."""
    validate_identifier(name)
    return dialect.identifier_preparer.quote_identifier(name)


def quote_table(dialect: Dialect, name: str) -> str:
    """``schema.table`` or ``table``, validated and quoted."""
    schema, table = split_table_name(name)
    quoted = quote(dialect, table)
    return f"{quote(dialect, schema)}.{quoted}" if schema else quoted
