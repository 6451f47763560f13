"""Lazy package exports (PEP 562): names resolved from their module on first use.

A backend package (`etl_framework.load.sql`, `etl_framework.load.bigquery`) lists its
public names without importing every module, so importing one strategy never pulls in
the others or an SDK::

    __all__, __getattr__ = lazy_exports(__name__, {"BigQueryMergeStrategy": ".merge"})
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[list[str], Callable[[str], Any]]:
    """``__all__`` and a module ``__getattr__`` for ``package``; ``exports`` maps each
    public name to its module, relative (``.merge``) or absolute."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    return sorted(exports), __getattr__


__all__ = ["lazy_exports"]
