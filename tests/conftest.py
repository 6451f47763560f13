"""Shared fixtures: environment isolation, registry reset, real services.

Markers are added by folder: every test under ``tests/integration/<service>/`` gets
the ``<service>`` marker, so ``script/test -m postgres`` selects them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services.gcs import gcs_emulator_server
from tests.services.postgres import create_database, drop_database, postgres_server

SERVICE_MARKERS = (
    "postgres",
    "gcs",
    "bigquery",
    "http",
    "airflow",
    "k8s",
    "container",
    "browser",
)
REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(REPO_ROOT).parts
        if len(parts) > 2 and parts[1] == "integration" and parts[2] in SERVICE_MARKERS:
            item.add_marker(getattr(pytest.mark, parts[2]))


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Each test sees only its own environment changes and no real secrets dir."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith("ETL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ETL_SECRETS_DIR", str(tmp_path / "no-secrets"))
    yield
    os.environ.clear()
    os.environ.update(saved)
    from etl_framework import redaction

    redaction.forget_all()  # secrets registered by one test must not mask the next one's


@pytest.fixture(autouse=True)
def _reset_registry() -> Iterator[None]:
    from etl_framework import registry

    registry.discover()  # modules import once per process: snapshot what they registered
    snapshot = registry.snapshot()
    yield
    registry.restore(snapshot)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server."""
    url = create_database(postgres_server_url)
    yield url
    drop_database(postgres_server_url, url)


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    with gcs_emulator_server() as endpoint:
        yield endpoint


@pytest.fixture
def gcs_bucket(gcs_emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket in the emulator, with STORAGE_EMULATOR_HOST set for the test."""
    from etl_framework.gcp.storage import storage_client

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    name = "test-" + uuid.uuid4().hex[:10]
    storage_client().create_bucket(name)
    return name
