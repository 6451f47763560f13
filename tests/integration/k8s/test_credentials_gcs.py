"""fetch-credentials against the GCS emulator: the listed keys land in a private directory."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from etl_framework.deploy.credentials import (
    build_credentials_secret,
    fetch_credentials,
    parse_download_list,
)


@pytest.mark.gcs
def test_fetch_credentials_from_gcs(gcs_bucket: str, tmp_path: Path) -> None:
    from etl_framework.gcp.storage import storage_client

    bucket = storage_client().bucket(gcs_bucket)
    bucket.blob("keys/etl-runner.json").upload_from_string(b'{"type": "service_account"}')
    bucket.blob("reader.json").upload_from_string(b'{"type": "reader"}')
    sources = parse_download_list(
        f"gs://{gcs_bucket}/keys/etl-runner.json key.json\ngs://{gcs_bucket}/reader.json\n"
    )
    paths = fetch_credentials(sources, tmp_path / "keyscredentials")
    assert [p.name for p in paths] == ["key.json", "reader.json"]
    assert paths[0].read_bytes() == b'{"type": "service_account"}'
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in paths)
    secret = build_credentials_secret(paths, name="etl-credentials", namespace="etl-dev")
    assert sorted(secret["data"]) == ["key.json", "reader.json"]
