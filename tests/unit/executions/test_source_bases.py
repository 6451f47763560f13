"""The ready-made SQL source base fingerprints its source by its fingerprint query, on
real SQLite databases (PostgreSQL: tests/integration/postgres/test_source_bases.py;
the HTTP base: tests/integration/http/test_source_bases.py)."""

from __future__ import annotations

from pathlib import Path

from tests.support.source_jobs import check_sql_source_fingerprints


def test_sql_fingerprint_query_decides_the_skip(tmp_path: Path) -> None:
    check_sql_source_fingerprints(tmp_path, f"sqlite:///{tmp_path / 'shop.db'}")
