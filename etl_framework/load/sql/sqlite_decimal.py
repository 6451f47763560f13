"""Exact decimals on SQLite: ``numeric(p,s)`` stored as scaled integers or as text.

SQLite has no decimal type: a column declared ``NUMERIC(12,2)`` converts every value
to a binary float (REAL), so ``0.1 + 0.2`` is not ``0.3`` and the sum of 200k prices
drifts in the last digits. The field mapping's numeric columns therefore get their own
column type on SQLite, chosen by the declared precision:

================================  ===================  =================================
mapping type                      SQLite column        stored value
================================  ===================  =================================
numeric(p,s) with p <= 18         ``DECIMAL_SCALED``   INTEGER value x 10^s (12.34 ->
                                  ``(p,s)``            1234 for s=2): exact, ordered,
                                                       and ``SUM`` is exact
numeric(p,s) with p > 18,         ``DECIMAL_TEXT``     TEXT, the plain decimal string
numeric (unconstrained)           ``[(p,s)]``          (``'12345678901234567890.5'``)
================================  ===================  =================================

Both are read back as `decimal.Decimal` through SQLAlchemy (the column type's result
processor, also for ``SUM(column)`` of a scaled column and for tables reflected from the
database), so a SQLite target holds the same values as PostgreSQL's ``numeric``. Raw
SQL sees the stored form: divide a ``DECIMAL_SCALED`` column by ``10^s`` to read it; a
``DECIMAL_TEXT`` column compares and sorts as text. The names carry the affinity:
``DECIMAL_TEXT`` contains TEXT (so SQLite keeps the string), ``DECIMAL_SCALED`` has
NUMERIC affinity (integers stay integers).

A SQLite table created before this (``NUMERIC(p,s)``, floats) is refused by the
schema check, not written into: drop it and let the next run create it.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from typing import Any

from sqlalchemy.types import UserDefinedType

MAX_SCALED_PRECISION = 18
"""Up to 18 digits a scaled value fits a signed 64-bit INTEGER (|v| < 10^18 < 2^63)."""
SCALED_NAME = "DECIMAL_SCALED"
TEXT_NAME = "DECIMAL_TEXT"


class SqliteDecimal(UserDefinedType[decimal.Decimal]):
    """The SQLite column type of a mapping's ``numeric`` (see the module docstring)."""

    cache_ok = True

    def __init__(self, precision: int | None = None, scale: int | None = None) -> None:
        self.precision = precision
        self.scale = (scale or 0) if precision is not None else None

    @property
    def scaled(self) -> bool:
        """Stored as an integer times 10^scale (else as text)."""
        return self.precision is not None and self.precision <= MAX_SCALED_PRECISION

    @property
    def python_type(self) -> type[decimal.Decimal]:
        return decimal.Decimal

    def get_col_spec(self, **kw: Any) -> str:
        register_reflection()  # SQLite meets the type: read it back as one too
        name = SCALED_NAME if self.scaled else TEXT_NAME
        if self.precision is None:
            return name
        return f"{name}({self.precision},{self.scale})"

    def bind_processor(self, dialect: Any) -> Callable[[Any], Any]:
        register_reflection()
        if self.scaled:
            scale = self.scale or 0

            def to_scaled(value: Any) -> int | None:
                if value is None:
                    return None
                scaled = decimal.Decimal(value).scaleb(scale)
                if scaled != scaled.to_integral_value():
                    raise ValueError(f"{value} has more than {scale} decimal places")
                return int(scaled)

            return to_scaled

        def to_text(value: Any) -> str | None:
            return None if value is None else format(decimal.Decimal(value), "f")

        return to_text

    def result_processor(self, dialect: Any, coltype: Any) -> Callable[[Any], Any]:
        register_reflection()
        scale = (self.scale or 0) if self.scaled else 0

        def to_decimal(value: Any) -> decimal.Decimal | None:
            if value is None:
                return None
            if isinstance(value, float):  # AVG() and friends: not exact to begin with
                return decimal.Decimal(repr(value)).scaleb(-scale)
            return decimal.Decimal(value).scaleb(-scale)

        return to_decimal


def schema_problem(precision: int | None, scale: int | None, actual: Any) -> str | None:
    """Why an existing SQLite column cannot hold the mapping's ``numeric(p,s)`` exactly."""
    if not isinstance(actual, SqliteDecimal):
        return (
            "stores binary floats, not exact decimals (created before exact decimals on "
            "SQLite): drop the table and let the next run create it"
        )
    wanted = SqliteDecimal(precision, scale)
    # the mapping's type writes the values: the column must store them the same way
    if actual.scaled != wanted.scaled or (
        wanted.scaled
        and (actual.scale != wanted.scale or (actual.precision or 0) < (precision or 0))
    ):
        return f"{actual.get_col_spec()} stores values unlike {wanted.get_col_spec()}"
    return None


_registered = False


def register_reflection() -> None:
    """Reflection of a SQLite table maps declared type names through the dialect's
    table: ours come back as SqliteDecimal (not as NUMERIC by affinity), so reads of a
    reflected table are exact too and the schema check can tell them from float-holding
    NUMERIC columns. Done once, when SQLite first meets the type (the schema check, a
    statement with such a column, a transform reflecting its source): importing this
    module does not import SQLAlchemy's SQLite dialect, which a PostgreSQL run building
    a mapping's numeric type never needs."""
    global _registered
    if _registered:
        return
    from sqlalchemy.dialects.sqlite import base as sqlite_base

    sqlite_base.ischema_names.setdefault(SCALED_NAME, SqliteDecimal)
    sqlite_base.ischema_names.setdefault(TEXT_NAME, SqliteDecimal)
    _registered = True


__all__ = ["MAX_SCALED_PRECISION", "SqliteDecimal", "register_reflection", "schema_problem"]
