"""GCS URIs and how API errors map onto our exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from google.api_core import exceptions as gexc

from etl_framework.connectors.gcs import GcsNotFoundError, _translate
from etl_framework.exceptions import ConfigError, ExitCode, JobError, SourceUnavailableError
from etl_framework.gcp.storage import split_gcs_prefix, split_gcs_uri


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


class _FailingClient:
    """A storage client whose download raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def bucket(self, _name: str) -> _FailingClient:
        return self

    def blob(self, _name: str) -> _FailingClient:
        return self

    def download_as_bytes(self) -> bytes:
        raise self.error


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (gexc.NotFound("gone"), ExitCode.CONFIG),
        (gexc.Forbidden("no access"), ExitCode.CONFIG),
        (gexc.ServiceUnavailable("down"), ExitCode.TRANSIENT),
        (gexc.RetryError("Timeout of 120.0s exceeded", cause=None), ExitCode.TRANSIENT),
        (requests.ConnectionError("refused"), ExitCode.TRANSIENT),
    ],
)
def test_config_reads_map_errors_to_config_or_transient(error: Exception, code: ExitCode) -> None:
    from etl_framework.gcp.storage import read_bytes

    with pytest.raises((ConfigError, SourceUnavailableError)) as caught:
        read_bytes("gs://b/config.yaml", client=_FailingClient(error))  # type: ignore[arg-type]
    assert caught.value.exit_code is code
    assert "gs://b/config.yaml" in str(caught.value)


def test_config_from_gcs_without_credentials_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from etl_framework.config import load_config

    for name in ("STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # no metadata server to ask
    monkeypatch.setenv("HOME", str(tmp_path))  # no gcloud application-default file
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    with pytest.raises(ConfigError, match="no Google Cloud credentials"):
        load_config("gs://b/config.yaml")
