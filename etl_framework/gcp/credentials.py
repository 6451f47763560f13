"""Google Cloud credentials for the GCS, BigQuery and Secret Manager clients.

Where credentials come from, first match wins:

1. An emulator is configured (``STORAGE_EMULATOR_HOST`` for GCS, an
   ``api_endpoint``/``BIGQUERY_EMULATOR_HOST`` for BigQuery): anonymous credentials.
2. ``credentials_file`` in the connection's config: a key file (service account,
   external account / workload identity federation, or authorized user) mounted at
   run time, e.g. from the ``keyscredentials/`` Secret. Read in place, never copied.
3. Application Default Credentials: ``GOOGLE_APPLICATION_CREDENTIALS``, the gcloud
   user's credentials, or the metadata server (Workload Identity on GKE).

Key material never reaches a log or an error message: errors name the file, not
its content, and `describe` says which source was used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl_framework.exceptions import ConfigError

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
ENV_CREDENTIALS = "GOOGLE_APPLICATION_CREDENTIALS"


@dataclass(frozen=True)
class ResolvedCredentials:
    """Credentials for a client, the project they imply, and where they came from."""

    credentials: Credentials | None
    """None: let the client library find ADC itself (same result, lazily)."""
    project: str | None
    source: str
    """``anonymous``, ``key file <path>`` or ``application default``; safe to log."""


def _auth_modules() -> Any:
    try:
        import google.auth
    except ImportError:
        from etl_framework.exceptions import missing_extra_error

        raise missing_extra_error("google-auth", "gcs") from None
    return google.auth


def anonymous() -> ResolvedCredentials:
    """Credentials for an emulator (no token is ever fetched)."""
    _auth_modules()
    from google.auth.credentials import AnonymousCredentials

    return ResolvedCredentials(
        AnonymousCredentials(),  # type: ignore[no-untyped-call]
        None,
        "anonymous",
    )


KEY_FILE_TYPES = ("service_account", "authorized_user", "external_account")
_REQUIRED_FIELDS = {
    "service_account": ("client_email", "private_key", "token_uri"),
    "authorized_user": ("client_id", "client_secret", "refresh_token"),
    "external_account": ("audience", "subject_token_type", "token_url"),
}


def from_key_file(
    path: str | os.PathLike[str], scopes: tuple[str, ...] = ()
) -> ResolvedCredentials:
    """Credentials from a key file read in place; ConfigError naming the file if unusable.

    Only the documented credential types are accepted (service account, authorized
    user, external account / workload identity federation), each through its own
    loader, never a generic one that would accept any configuration.
    """
    import json

    _auth_modules()
    key_path = Path(path).expanduser()
    where = f"credentials file {str(key_path)!r}"
    if not key_path.is_file():
        raise ConfigError(
            f"{where} does not exist: mount the key at run time (keyscredentials/) or leave "
            "credentials_file unset to use Application Default Credentials"
        )
    try:
        info = json.loads(key_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        raise ConfigError(f"{where} is not usable: not a readable JSON key file") from None
    kind = info.get("type") if isinstance(info, dict) else None
    if kind not in KEY_FILE_TYPES:
        raise ConfigError(
            f"{where} is not usable: type {kind!r} is not one of {', '.join(KEY_FILE_TYPES)}"
        )
    missing = [name for name in _REQUIRED_FIELDS[kind] if not info.get(name)]
    if missing:
        raise ConfigError(f"{where} is not usable: {kind} key lacks {', '.join(missing)}")
    wanted = list(scopes or (CLOUD_PLATFORM_SCOPE,))
    try:
        credentials = _load_typed(kind, info, wanted)
    except Exception as exc:  # the libraries' messages may quote the file: never show them
        raise ConfigError(
            f"{where} is not usable: the {kind} key was rejected ({type(exc).__name__})"
        ) from None
    project = info.get("project_id") or info.get("quota_project_id")
    return ResolvedCredentials(credentials, project, f"key file {key_path}")


def _load_typed(kind: str, info: dict[str, Any], scopes: list[str]) -> Credentials:
    if kind == "service_account":
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_info(info, scopes=scopes)  # type: ignore[no-untyped-call,no-any-return]
    if kind == "authorized_user":
        from google.oauth2 import credentials as user_credentials

        return user_credentials.Credentials.from_authorized_user_info(info, scopes=scopes)  # type: ignore[no-untyped-call,no-any-return]
    source = info.get("credential_source") or {}
    if isinstance(source, dict) and str(source.get("environment_id", "")).startswith("aws"):
        from google.auth import aws

        return aws.Credentials.from_info(info, scopes=scopes)  # type: ignore[no-untyped-call,no-any-return]
    if isinstance(source, dict) and "executable" in source:
        from google.auth import pluggable

        return pluggable.Credentials.from_info(info, scopes=scopes)  # type: ignore[no-untyped-call,no-any-return]
    from google.auth import identity_pool

    return identity_pool.Credentials.from_info(info, scopes=scopes)  # type: ignore[no-untyped-call,no-any-return]


def resolve_credentials(
    credentials_file: str | os.PathLike[str] | None = None,
    *,
    emulator: bool = False,
    scopes: tuple[str, ...] = (),
) -> ResolvedCredentials:
    """Pick the credentials for one client, in the documented order."""
    if emulator:
        return anonymous()
    if credentials_file:
        return from_key_file(credentials_file, scopes)
    return ResolvedCredentials(None, None, application_default_source())


def application_default_source() -> str:
    """A loggable description of where ADC will come from."""
    env_file = os.environ.get(ENV_CREDENTIALS)
    if env_file:
        return f"application default ({ENV_CREDENTIALS}={env_file})"
    return "application default (gcloud user or metadata server / Workload Identity)"


def default_credentials(scopes: tuple[str, ...] = ()) -> ResolvedCredentials:
    """ADC loaded now (instead of lazily by a client): ConfigError when there are none."""
    google_auth = _auth_modules()
    from google.auth import exceptions as auth_exceptions

    try:
        credentials, project = google_auth.default(scopes=list(scopes or (CLOUD_PLATFORM_SCOPE,)))
    except auth_exceptions.DefaultCredentialsError as exc:
        raise ConfigError(
            "no Google Cloud credentials found: set credentials_file in the connection, "
            f"{ENV_CREDENTIALS}, or run on GKE with Workload Identity ({exc})"
        ) from None
    return ResolvedCredentials(credentials, project, application_default_source())


__all__ = [
    "CLOUD_PLATFORM_SCOPE",
    "ResolvedCredentials",
    "anonymous",
    "application_default_source",
    "default_credentials",
    "from_key_file",
    "resolve_credentials",
]
