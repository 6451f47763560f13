"""The SQL source base's fingerprint query on a real PostgreSQL source (SQLite:
tests/unit/executions/test_source_bases.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.source_jobs import check_sql_source_fingerprints


@pytest.mark.postgres
def test_sql_fingerprint_query_decides_the_skip(tmp_path: Path, postgres_url: str) -> None:
    check_sql_source_fingerprints(tmp_path, postgres_url)
