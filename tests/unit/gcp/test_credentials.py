"""Where Google credentials come from; key material never reaches an error or a copy."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials
from google.oauth2 import service_account

from etl_framework.exceptions import ConfigError
from etl_framework.gcp.credentials import application_default_source, resolve_credentials
from etl_framework.gcp.storage import storage_client


@pytest.fixture(scope="module")
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def write_key(path: Path, pem: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "acme-data",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "etl@acme-data.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    return path


def test_key_file_is_read_in_place(tmp_path: Path, private_key_pem: str) -> None:
    key = write_key(tmp_path / "etl.json", private_key_pem)
    before = sorted(p.name for p in tmp_path.iterdir())
    resolved = resolve_credentials(key)
    assert isinstance(resolved.credentials, service_account.Credentials)
    assert resolved.credentials.service_account_email == "etl@acme-data.iam.gserviceaccount.com"
    assert resolved.project == "acme-data"
    assert resolved.source == f"key file {key}"
    assert "PRIVATE KEY" not in repr(resolved)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing copied


def test_storage_client_uses_the_key_file(tmp_path: Path, private_key_pem: str) -> None:
    client = storage_client(credentials_file=str(write_key(tmp_path / "k.json", private_key_pem)))
    assert isinstance(client._credentials, service_account.Credentials)
    assert client.project == "acme-data"


def test_missing_key_file_names_the_path_and_the_alternative(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist") as caught:
        resolve_credentials(tmp_path / "nope.json")
    assert "Application Default Credentials" in str(caught.value)


def test_broken_key_file_error_never_shows_the_key(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    secret = "-----BEGIN PRIVATE KEY-----\nTOPSECRET\n-----END PRIVATE KEY-----\n"
    key = {
        "type": "service_account",
        "private_key": secret,
        "client_email": "a@b.c",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path.write_text(json.dumps(key))
    with pytest.raises(ConfigError, match="key was rejected") as caught:
        resolve_credentials(path)
    assert "TOPSECRET" not in str(caught.value)
    assert caught.value.__suppress_context__  # the library's message is not chained either
    del key["client_email"]
    path.write_text(json.dumps(key))
    with pytest.raises(ConfigError, match="lacks client_email"):
        resolve_credentials(path)
    path.write_text(json.dumps({"type": "impersonated_service_account"}))
    with pytest.raises(ConfigError, match="is not one of"):
        resolve_credentials(path)


def test_emulator_means_anonymous_and_default_means_adc(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(
        resolve_credentials("ignored.json", emulator=True).credentials, AnonymousCredentials
    )
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    adc = resolve_credentials(None)
    assert adc.credentials is None  # the client library finds ADC itself
    assert "metadata server" in adc.source
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/var/secrets/google/key.json")
    assert application_default_source().endswith("=/var/secrets/google/key.json)")
    assert os.environ["GOOGLE_APPLICATION_CREDENTIALS"] == "/var/secrets/google/key.json"
