"""The shipped example config of gcs_events_to_bigquery validates, in every environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_framework import registry
from etl_framework.config import load_config
from etl_framework.connections import build_connector
from etl_framework.connectors.bigquery import BigQueryConfig

CONFIG = Path(__file__).resolve().parents[3] / "jobs" / "config" / "gcs_events_to_bigquery.yaml"


@pytest.mark.parametrize("environment", [None, "dev"])
def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch, environment: str | None) -> None:
    monkeypatch.setenv("GCP_PROJECT", "acme-data")
    registry.discover()
    job = registry.get("gcs_events_to_bigquery")
    config = load_config(str(CONFIG), environment)
    assert job.option_problems(config) == []
    bigquery = build_connector("bigquery", config.connections["bigquery"])
    assert isinstance(bigquery.config, BigQueryConfig)
    assert bigquery.config.project == "acme-data"
    assert bigquery.config.staging_expiration_hours == 24
    expected = "analytics_dev" if environment == "dev" else "analytics"
    assert bigquery.config.dataset == expected
    options = job.options_from(config)
    assert options.source_prefix == "gs://acme-event-exports/events"
