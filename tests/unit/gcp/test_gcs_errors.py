"""GCS URIs and how API errors map onto our exit codes."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc

from etl_framework.connectors.gcs import (
    GcsNotFoundError,
    _translate,
    split_gcs_prefix,
    split_gcs_uri,
)
from etl_framework.exceptions import ConfigError, ExitCode, JobError, SourceUnavailableError


def test_uris() -> None:
    assert split_gcs_uri("gs://b/a/b.json") == ("b", "a/b.json")
    assert split_gcs_prefix("gs://b") == ("b", "")
    assert split_gcs_prefix("gs://b/p/") == ("b", "p/")
    for bad in ("s3://b/k", "gs://", "gs:///k", "gs://b"):
        with pytest.raises(ConfigError):
            split_gcs_uri(bad)


@pytest.mark.parametrize(
    ("exc", "kind", "code"),
    [
        (gexc.NotFound("gone"), GcsNotFoundError, ExitCode.FAILED),
        (gexc.TooManyRequests("slow"), SourceUnavailableError, ExitCode.TRANSIENT),
        (gexc.ServiceUnavailable("down"), SourceUnavailableError, ExitCode.TRANSIENT),
        (gexc.Forbidden("no"), JobError, ExitCode.FAILED),
    ],
)
def test_api_errors(exc: Exception, kind: type[Exception], code: ExitCode) -> None:
    error = _translate(exc, "gs://b/k", "read")
    assert type(error) is kind
    assert error.exit_code is code  # type: ignore[attr-defined]
    assert "gs://b/k" in str(error)
