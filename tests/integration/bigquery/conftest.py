"""Fixtures of the BigQuery suite: the local-bigquery emulator, or a real project.

By default every test runs against the emulator (``script/setup/bigquery`` installs it;
a missing emulator is a failure, not a skip). With ``ETL_BQ_TEST_PROJECT`` and
``ETL_BQ_TEST_DATASET`` set, the same tests run against that real project instead
(credentials from ADC), each in its own table names under that dataset; see docs/gcp.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.services.bigquery import BigQueryEmulator, bigquery_emulator_server
from tests.support.bigquery import (
    REAL_LOCATION,
    BigQueryTarget,
    drop_tables,
    real_project,
)


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
        if REAL_LOCATION:
            connection["location"] = REAL_LOCATION
        target = BigQueryTarget(connection, project, dataset, emulator=False)
        yield target
        drop_tables(target)
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
