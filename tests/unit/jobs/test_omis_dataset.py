"""The shipped omis_dataset config example validates, and its secrets stay masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_framework import registry
from etl_framework.config import load_config
from etl_framework.connectors.http import HttpConfig
from etl_framework.exceptions import ConfigValidationError
from etl_framework.http.config import HawkAuthConfig, NextUrlPagination

EXAMPLE = Path(__file__).resolve().parents[3] / "jobs" / "config" / "omis_dataset.yaml"


def test_example_config_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAWK_ID", "data-flow")
    monkeypatch.setenv("HAWK_KEY", "hawk-key-value-123")
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql+psycopg://etl:pw@db/datasets_db")
    config = load_config(str(EXAMPLE))
    api = config.connections["datahub"]
    assert isinstance(api, HttpConfig) and isinstance(api.auth, HawkAuthConfig)
    assert api.auth.algorithm == "sha256" and api.auth.verify_response
    assert "hawk-key-value-123" not in repr(config)
    registry.discover()
    options = registry.get("omis_dataset").options_from(config)
    source = options.source
    assert source.path == "v4/dataset/omis-dataset"
    assert isinstance(source.pagination, NextUrlPagination)
    assert source.window_params.start == "modified_on__gte"


def test_missing_hawk_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAWK_ID", "data-flow")
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql+psycopg://etl@db/datasets_db")
    monkeypatch.delenv("HAWK_KEY", raising=False)
    with pytest.raises(ConfigValidationError, match="HAWK_KEY") as info:
        load_config(str(EXAMPLE))
    assert info.value.exit_code == 3
