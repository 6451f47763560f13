"""The Google Cloud Storage client (google-cloud-storage, imported lazily), ``gs://`` URIs.

`storage_client` is used by the GCS connector (`etl_framework.connectors.gcs`), file
sources, page caches and the deploy package's key-file download; `read_bytes` is what
config loading uses for ``gs://bucket/key`` (no connector needed); `split_gcs_uri` and
`split_gcs_prefix` parse URIs for all of them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from etl_framework.exceptions import ConfigError, SourceUnavailableError

if TYPE_CHECKING:
    from google.cloud.storage import Client

GCS_SCHEME = "gs://"
ENV_EMULATOR = "STORAGE_EMULATOR_HOST"


def split_gcs_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> (``bucket``, ``a/b``); ConfigError when malformed."""
    if not uri.startswith(GCS_SCHEME):
        raise ConfigError(f"not a gs:// URI: {uri!r}")
    bucket, _, key = uri[len(GCS_SCHEME) :].partition("/")
    if not bucket or not key:
        raise ConfigError(f"invalid GCS URI {uri!r}: expected gs://bucket/key")
    return bucket, key


def split_gcs_prefix(uri: str) -> tuple[str, str]:
    """Like `split_gcs_uri` but the key part may be empty (``gs://bucket``)."""
    if not uri.startswith(GCS_SCHEME):
        raise ConfigError(f"not a gs:// URI: {uri!r}")
    bucket, _, prefix = uri[len(GCS_SCHEME) :].partition("/")
    if not bucket:
        raise ConfigError(f"invalid GCS URI {uri!r}: expected gs://bucket[/prefix]")
    return bucket, prefix


def storage_client(project: str | None = None, credentials_file: str | None = None) -> Client:
    """A storage client: emulator (anonymous), key file if given, else ADC.

    With ``STORAGE_EMULATOR_HOST`` set, the client talks to the emulator anonymously.
    """
    try:
        from google.cloud import storage
    except ImportError:
        from etl_framework.exceptions import missing_extra_error

        raise missing_extra_error("google-cloud-storage", "gcs") from None
    from etl_framework.gcp.credentials import resolve_credentials

    emulator = bool(os.environ.get(ENV_EMULATOR))
    resolved = resolve_credentials(None if emulator else credentials_file, emulator=emulator)
    if emulator:
        project = project or "emulator"
    from google.auth import exceptions as auth_exceptions

    try:
        return storage.Client(project=project or resolved.project, credentials=resolved.credentials)
    except auth_exceptions.DefaultCredentialsError as exc:
        raise ConfigError(
            f"no Google Cloud credentials for GCS: {exc.args[0] if exc.args else exc}"
        ) from None


def read_bytes(uri: str, client: Client | None = None, *, max_bytes: int | None = None) -> bytes:
    """The content of ``gs://bucket/key`` (used for config).

    With ``max_bytes``, at most ``max_bytes + 1`` bytes are downloaded and a bigger
    object is refused.

    Raises:
        ConfigError: missing object, no access or no credentials, larger than
            ``max_bytes`` (exit 3).
        SourceUnavailableError: GCS or the network is down (exit 75: retry later).
    """
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exceptions
    from requests import exceptions as http_exceptions

    bucket, key = split_gcs_uri(uri)
    client = client or storage_client()
    try:
        blob = client.bucket(bucket).blob(key)
        # end is inclusive: one byte past the cap tells a too-large object apart
        data: bytes = (
            blob.download_as_bytes()
            if max_bytes is None
            else blob.download_as_bytes(start=0, end=max_bytes)
        )
    except gexc.NotFound:
        raise ConfigError(f"{uri} does not exist") from None
    except (
        gexc.ServerError,
        gexc.TooManyRequests,
        gexc.RetryError,
        auth_exceptions.TransportError,
        http_exceptions.ConnectionError,
        http_exceptions.Timeout,
    ) as exc:  # GCS or the network is down: worth retrying later (exit 75)
        raise SourceUnavailableError(f"cannot read {uri}: {exc}") from None
    except (gexc.GoogleAPIError, auth_exceptions.GoogleAuthError) as exc:
        raise ConfigError(f"cannot read {uri}: {exc}") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise ConfigError(f"config {uri} is larger than {max_bytes} bytes")
    return data


__all__ = [
    "ENV_EMULATOR",
    "GCS_SCHEME",
    "read_bytes",
    "split_gcs_prefix",
    "split_gcs_uri",
    "storage_client",
]
