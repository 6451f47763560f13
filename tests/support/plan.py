"""Helpers of the ``pipeline --plan`` tests (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by relative path, as a SHA-256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def statements(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan's SQL statements (steps without SQL left out)."""
    listed = plan["statements"]
    assert isinstance(listed, list), listed
    return [s for s in listed if "sql" in s]


def one(plan: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The one planned statement starting with ``prefix``."""
    found = [s for s in statements(plan) if s["sql"].startswith(prefix)]
    assert len(found) == 1, (prefix, [s["sql"][:60] for s in statements(plan)])
    return found[0]
