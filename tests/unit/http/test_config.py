"""Connection and source config validation; URL redaction."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from etl_framework.connections import build_connector
from etl_framework.connectors.http import HttpConfig, HttpConnector
from etl_framework.http.config import HawkAuthConfig, HttpSourceConfig, OffsetPagination
from etl_framework.http.errors import redact_url


def test_minimal_connection_config_and_defaults() -> None:
    connector = build_connector("api", {"type": "http", "base_url": "https://api.test/v4"})
    assert isinstance(connector, HttpConnector)
    config = connector.config
    assert isinstance(config, HttpConfig)
    assert config.base_url == "https://api.test/v4/"
    assert config.timeout.connect == 10 and config.timeout.read == 60
    assert config.retry.statuses == frozenset({429, 500, 502, 503, 504})
    assert connector.url_for("dataset/x") == "https://api.test/v4/dataset/x"
    assert connector.url_for("/dataset/x") == "https://api.test/v4/dataset/x"
    assert connector.url_for("http://other.test/y") == "http://other.test/y"


def test_auth_is_a_discriminated_union() -> None:
    config = HttpConfig.model_validate(
        {"base_url": "https://a.test", "auth": {"type": "hawk", "id": "i", "key": "k"}}
    )
    assert isinstance(config.auth, HawkAuthConfig)
    assert config.auth.algorithm == "sha256" and config.auth.verify_response
    with pytest.raises(ValidationError, match=r"union_tag_invalid|does not match any"):
        HttpConfig.model_validate({"base_url": "https://a.test", "auth": {"type": "oauth9"}})


@pytest.mark.parametrize(
    "raw, match",
    [
        ({"base_url": "ftp://a.test"}, "http:// or https://"),
        ({"base_url": "https://a.test", "timeout": {"read": 0}}, "greater than 0"),
        ({"base_url": "https://a.test", "retry": {"statuses": [200]}}, "4xx/5xx"),
        ({"base_url": "https://a.test", "retry": {"retry_after_floor": 0}}, "greater than 0"),
        ({"base_url": "https://a.test", "surprise": 1}, "Extra inputs"),
    ],
)
def test_invalid_connection_configs(raw: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        HttpConfig.model_validate(raw)


def test_source_config() -> None:
    source = HttpSourceConfig.model_validate(
        {
            "connection": "api",
            "path": "x",
            "pagination": {"type": "offset", "limit": 500, "total_path": "count"},
            "concurrency": 8,
        }
    )
    assert isinstance(source.pagination, OffsetPagination) and source.pagination.limit == 500
    assert source.records_path == "results"
    with pytest.raises(ValidationError):
        HttpSourceConfig.model_validate({"connection": "api", "path": "x", "concurrency": 0})


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://a.test/x?page=2", "https://a.test/x?page=2"),
        ("https://a.test/x?api_key=abc&page=2", "https://a.test/x?api_key=***&page=2"),
        (
            "https://a.test/x?access_token=abc&Signature=zz",
            "https://a.test/x?access_token=***&Signature=***",
        ),
        ("https://user:pw@a.test/x", "https://user:***@a.test/x"),
        ("https://user@a.test/x#frag", "https://user@a.test/x"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected
