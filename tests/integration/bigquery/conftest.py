"""Fixtures of the BigQuery suite: the local-bigquery emulator, or a real project.

By default every test runs against the emulator (``script/setup/bigquery`` installs it;
a missing emulator is a failure, not a skip). With ``ETL_BQ_TEST_PROJECT`` and
``ETL_BQ_TEST_DATASET`` set, the same tests run against that real project instead
(credentials from ADC), each in its own table names under that dataset; see docs/gcp.md.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.services.bigquery import BigQueryEmulator, bigquery_emulator_server

REAL_PROJECT_ENV = "ETL_BQ_TEST_PROJECT"
REAL_DATASET_ENV = "ETL_BQ_TEST_DATASET"
REAL_BUCKET_ENV = "ETL_BQ_TEST_BUCKET"
REAL_LOCATION_ENV = "ETL_BQ_TEST_LOCATION"

# Read once at import: the autouse fixture of tests/conftest.py removes ETL_* per test.
_REAL = {
    name: os.environ.get(name)
    for name in (REAL_PROJECT_ENV, REAL_DATASET_ENV, REAL_BUCKET_ENV, REAL_LOCATION_ENV)
}


def real_project() -> tuple[str, str] | None:
    project, dataset = _REAL[REAL_PROJECT_ENV], _REAL[REAL_DATASET_ENV]
    return (project, dataset) if project and dataset else None


@dataclass(frozen=True)
class BigQueryTarget:
    """Where a test writes: a connection config and a dataset of its own."""

    connection: dict[str, Any]
    project: str
    dataset: str
    emulator: bool
    created: list[str] = field(default_factory=list)

    def table(self, name: str) -> str:
        """A table name of this test (dropped after the test on a real project)."""
        full = f"{self.project}.{self.dataset}.{name}"
        self.created.append(full)
        return full


@pytest.fixture(scope="session")
def bigquery_emulator(gcs_emulator: str) -> Iterator[BigQueryEmulator | None]:
    if real_project() is not None:
        yield None
        return
    with bigquery_emulator_server(storage_emulator_host=gcs_emulator) as emulator:
        yield emulator


@pytest.fixture
def bq_target(
    bigquery_emulator: BigQueryEmulator | None, gcs_emulator: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BigQueryTarget]:
    """A fresh dataset (emulator) or fresh table-name space (real project) per test."""
    real = real_project()
    if real is not None:
        project, dataset = real
        connection: dict[str, Any] = {
            "type": "bigquery",
            "project": project,
            "dataset": dataset,
            "staging_dataset": dataset,
        }
        if _REAL[REAL_LOCATION_ENV]:
            connection["location"] = _REAL[REAL_LOCATION_ENV]
        target = BigQueryTarget(connection, project, dataset, emulator=False)
        yield target
        _drop_tables(target)
        return
    assert bigquery_emulator is not None
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    dataset = "t_" + uuid.uuid4().hex[:10]
    connection = {
        "type": "bigquery",
        "project": bigquery_emulator.project,
        "dataset": dataset,
        "api_endpoint": bigquery_emulator.endpoint,
    }
    yield BigQueryTarget(connection, bigquery_emulator.project, dataset, emulator=True)


@pytest.fixture
def bq(bq_target: BigQueryTarget) -> Iterator[Any]:
    """An open BigQueryConnector on the test's target."""
    from etl_framework.connections import build_connector

    connector = build_connector("warehouse", bq_target.connection)
    with connector:
        yield connector


def _drop_tables(target: BigQueryTarget) -> None:
    from etl_framework.connections import build_connector
    from etl_framework.connectors.bigquery import BigQueryConnector

    connector = build_connector("cleanup", target.connection)
    assert isinstance(connector, BigQueryConnector)
    with connector:
        for name in target.created:
            connector.delete_table(connector.table_ref(name))
