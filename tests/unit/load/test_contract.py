"""The shared write-strategy contract: both hierarchies satisfy it, one registry."""

from __future__ import annotations

import inspect

import pytest

from etl_framework.load.contract import StrategyKind, WriteStrategyContract, strategy_class

LIFECYCLE = ("claim", "drop_stale_staging", "prepare", "load", "publish", "drop_staging", "write")


@pytest.mark.parametrize("kind", list(StrategyKind))
def test_sql_strategies_follow_the_contract(kind: StrategyKind) -> None:
    cls = strategy_class("sql", kind)
    assert cls.name == kind.value
    for method in LIFECYCLE:
        assert callable(getattr(cls, method)), method


@pytest.mark.parametrize("kind", [k for k in StrategyKind if k is not StrategyKind.APPEND])
def test_bigquery_strategies_follow_the_contract(kind: StrategyKind) -> None:
    pytest.importorskip("google.cloud.bigquery")
    cls = strategy_class("bigquery", kind)
    assert cls.name == kind.value
    for method in LIFECYCLE:
        assert callable(getattr(cls, method)), method


def test_shared_constructor_arguments() -> None:
    pytest.importorskip("google.cloud.bigquery")
    shared = {"run_id", "ledger", "fence_token", "fence_window", "transfer", "guards", "log"}
    for backend in ("sql", "bigquery"):
        params = inspect.signature(strategy_class(backend, "merge").__init__).parameters
        base = strategy_class(backend, "merge").__mro__
        names = set(params) | {
            p
            for c in base
            if "__init__" in vars(c)
            for p in inspect.signature(c.__init__).parameters
        }
        assert shared <= names, backend


def test_unknown_combination_is_refused() -> None:
    with pytest.raises(ValueError, match="no append write strategy for backend 'bigquery'"):
        strategy_class("bigquery", "append")
    with pytest.raises(ValueError):
        strategy_class("sql", "upsert")


def test_protocol_is_runtime_checkable() -> None:
    assert not isinstance(object(), WriteStrategyContract)
