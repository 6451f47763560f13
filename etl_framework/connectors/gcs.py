"""Google Cloud Storage through google-cloud-storage (imported lazily).

`read_bytes` is what config loading uses for ``gs://bucket/key``; the connector
wraps a client for file sources, page caches and staging.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from etl_framework.connectors.base import Connector, ConnectorConfig
from etl_framework.exceptions import ConfigError

if TYPE_CHECKING:
    from google.cloud.storage import Client

GCS_SCHEME = "gs://"


def split_gcs_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> (``bucket``, ``a/b``); ConfigError when malformed."""
    if not uri.startswith(GCS_SCHEME):
        raise ConfigError(f"not a gs:// URI: {uri!r}")
    bucket, _, key = uri[len(GCS_SCHEME) :].partition("/")
    if not bucket or not key:
        raise ConfigError(f"invalid GCS URI {uri!r}: expected gs://bucket/key")
    return bucket, key


def storage_client(project: str | None = None, credentials_file: str | None = None) -> Client:
    """A storage client: key file if given, else Application Default Credentials.

    With STORAGE_EMULATOR_HOST set, the client talks to the emulator anonymously.
    """
    import os

    try:
        from google.cloud import storage
    except ImportError:
        from etl_framework.connectors import missing_extra_error

        raise missing_extra_error("google-cloud-storage", "gcs") from None
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=project or "emulator", credentials=AnonymousCredentials())
    if credentials_file:
        return storage.Client.from_service_account_json(credentials_file, project=project)
    return storage.Client(project=project)


def read_bytes(uri: str, client: Client | None = None) -> bytes:
    """The content of ``gs://bucket/key``."""
    from google.api_core import exceptions as gexc

    bucket, key = split_gcs_uri(uri)
    client = client or storage_client()
    try:
        data: bytes = client.bucket(bucket).blob(key).download_as_bytes()
    except gexc.NotFound:
        raise ConfigError(f"{uri} does not exist") from None
    except gexc.GoogleAPIError as exc:
        raise ConfigError(f"cannot read {uri}: {exc}") from None
    return data


class GcsConfig(ConnectorConfig):
    type: Literal["gcs"] = "gcs"
    project: str | None = None
    credentials_file: str | None = None
    """Path of a service-account key file mounted at run time; None = ADC."""


class GcsConnector(Connector):
    type_name = "gcs"
    config_model = GcsConfig
    capabilities: ClassVar[frozenset[str]] = frozenset()

    config: GcsConfig

    def __init__(self, name: str, config: ConnectorConfig) -> None:
        super().__init__(name, config)
        self._client: Any = None

    @property
    def client(self) -> Client:
        self.open()
        return self._client  # type: ignore[no-any-return]

    def read_bytes(self, uri: str) -> bytes:
        return read_bytes(uri, self.client)

    def _open(self) -> None:
        self._client = storage_client(self.config.project, self.config.credentials_file)

    def _close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
