"""The Google Cloud Storage client (google-cloud-storage, imported lazily).

Used by the GCS connector, file sources, page caches, config loading (``gs://``) and
the deploy package's key-file download.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from etl_framework.exceptions import ConfigError

if TYPE_CHECKING:
    from google.cloud.storage import Client

ENV_EMULATOR = "STORAGE_EMULATOR_HOST"


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


__all__ = ["ENV_EMULATOR", "storage_client"]
