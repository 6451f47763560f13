"""Google Secret Manager references in config: ``${gsm:projects/P/secrets/S[/versions/V]}``.

`etl_framework.config` calls `resolve` lazily, only for ``gsm:`` references, and
registers every value it returns as a secret (masked in logs and errors). The
version defaults to ``latest``; pin one (``/versions/3``) for reproducible runs.

The client (google-cloud-secret-manager, imported here only) uses Application
Default Credentials: Workload Identity on GKE, or ``GOOGLE_APPLICATION_CREDENTIALS``.
Each payload's CRC32C checksum is verified. Trailing newlines are stripped, as for
``${file:...}`` and mounted secret files (``echo "pw" | gcloud secrets create``
stores one). Values are cached for the life of the process, so a config that names
a secret twice fetches it once.

Errors never contain the secret value: a missing secret or version raises
``KeyError`` (config reports "secret ... not found" with the config path);
permission or API problems raise `ConfigError` naming the reference.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from etl_framework.exceptions import ConfigError

SCHEME = "gsm"
DEFAULT_VERSION = "latest"
REQUEST_TIMEOUT_SECONDS = 30.0
_REFERENCE = re.compile(
    r"^projects/(?P<project>[A-Za-z0-9_.:-]+)/secrets/(?P<secret>[A-Za-z0-9_-]{1,255})"
    r"(?:/versions/(?P<version>latest|[0-9]+|[A-Za-z0-9_-]+))?$"
)

_lock = threading.Lock()
_client: Any = None
_cache: dict[str, str] = {}


def version_name(reference: str) -> str:
    """``projects/P/secrets/S[/versions/V]`` -> the full version resource name."""
    match = _REFERENCE.match(reference.strip())
    if match is None:
        raise ConfigError(
            f"invalid Secret Manager reference {reference!r}: expected "
            "projects/PROJECT/secrets/NAME or projects/PROJECT/secrets/NAME/versions/VERSION"
        )
    version = match["version"] or DEFAULT_VERSION
    return f"projects/{match['project']}/secrets/{match['secret']}/versions/{version}"


def set_client(client: Any) -> None:
    """Use this SecretManagerServiceClient (e.g. another transport); None: default again."""
    global _client
    with _lock:
        _client = client
        _cache.clear()


def _get_client() -> Any:
    global _client
    with _lock:
        if _client is None:
            try:
                from google.cloud import secretmanager
            except ImportError:
                from etl_framework.exceptions import missing_extra_error

                raise missing_extra_error("google-cloud-secret-manager", "bigquery") from None
            _client = secretmanager.SecretManagerServiceClient()
        return _client


def resolve(reference: str) -> str:
    """The secret's payload as text. KeyError if it does not exist, ConfigError otherwise."""
    name = version_name(reference)
    with _lock:
        if name in _cache:
            return _cache[name]
    from google.api_core import exceptions as gexc

    client = _get_client()
    try:
        response = client.access_secret_version(
            request={"name": name}, timeout=REQUEST_TIMEOUT_SECONDS
        )
    except gexc.NotFound:
        raise KeyError(reference) from None
    except gexc.PermissionDenied:
        raise ConfigError(
            f"permission denied reading Secret Manager secret {name}: grant the run's service "
            "account roles/secretmanager.secretAccessor"
        ) from None
    except gexc.GoogleAPIError as exc:
        raise ConfigError(f"cannot read Secret Manager secret {name}: {exc}") from None
    data: bytes = response.payload.data
    if response.payload.data_crc32c:
        import google_crc32c

        if google_crc32c.value(data) != int(response.payload.data_crc32c):
            raise ConfigError(f"Secret Manager secret {name}: payload checksum mismatch")
    try:
        value = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"Secret Manager secret {name} is not UTF-8 text") from None
    value = value.rstrip("\n")  # like etl_framework.config's ${file:} and secret files
    with _lock:
        _cache[name] = value
    return value


__all__ = ["DEFAULT_VERSION", "resolve", "set_client", "version_name"]
