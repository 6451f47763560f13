"""Identifier validation, table-name splitting and quoting (etl_framework.identifiers)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from etl_framework.identifiers import (
    InvalidIdentifierError,
    quote_table,
    split_table_name,
    validate_identifier,
)

DIALECT = sa.create_engine("sqlite://").dialect


@pytest.mark.parametrize("name", ["orders", "_x", "Orders_2024", "a" * 63])
def test_valid_identifiers(name: str) -> None:
    assert validate_identifier(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "1a", "a-b", "a b", 'a"b', "a;b", "a" * 64, "é", "a\x00", None, 3, "orders--"],
)
def test_invalid_identifiers(name: object) -> None:
    with pytest.raises(InvalidIdentifierError):
        validate_identifier(name)


def test_table_names_and_quoting() -> None:
    assert split_table_name("s.t") == ("s", "t")
    assert split_table_name("t") == (None, "t")
    with pytest.raises(InvalidIdentifierError):
        split_table_name("a.b.c")
    assert quote_table(DIALECT, "select") == '"select"'
    assert quote_table(DIALECT, "Orders") == '"Orders"'
    assert quote_table(DIALECT, "s.orders") == '"s"."orders"'  # always quoted
