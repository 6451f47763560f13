"""Key download list and the credentials Secret (GCS itself: tests/integration/k8s)."""

from __future__ import annotations

import base64
import stat
from pathlib import Path
from typing import Any

import pytest

from etl_framework.deploy.credentials import (
    KeySource,
    build_credentials_secret,
    fetch_credentials,
    parse_download_list,
    read_download_list,
)
from etl_framework.exceptions import ConfigError, ConfigValidationError

REPO = Path(__file__).resolve().parents[3]


def test_parse_download_list() -> None:
    text = """
    # service-account keys
    gs://my-keys/etl/etl-runner.json key.json
    gs://my-keys/bq-reader.json   # trailing comment
    """
    assert parse_download_list(text) == [
        KeySource("my-keys", "etl/etl-runner.json", "key.json"),
        KeySource("my-keys", "bq-reader.json", "bq-reader.json"),
    ]


def test_every_bad_line_is_reported() -> None:
    text = "s3://x/y.json\ngs://bkt/a.json\ngs://bkt/c/a.json\ngs://bkt/k.json ../evil\n"
    with pytest.raises(ConfigValidationError) as info:
        parse_download_list(text, "list.txt")
    where = [path for path, _ in info.value.problems]
    assert where == ["line 1", "line 3", "line 4"]


def test_the_committed_download_list_parses() -> None:
    sources = read_download_list(REPO / "keyscredentials" / "download_list.txt")
    assert all(s.local_name.endswith(".json") for s in sources)


class FakeBlob:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def download_as_bytes(self) -> bytes:
        return self.data


class FakeClient:
    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects

    def bucket(self, bucket: str) -> Any:
        client = self

        class _Bucket:
            def blob(self, name: str) -> FakeBlob:
                return FakeBlob(client.objects[(bucket, name)])

        return _Bucket()


def test_fetch_writes_private_files(tmp_path: Path) -> None:
    client = FakeClient({("b", "dir/k.json"): b'{"type": "service_account"}'})
    (path,) = fetch_credentials(
        [KeySource("b", "dir/k.json", "key.json")], tmp_path / "keys", client=client
    )
    assert path == tmp_path / "keys" / "key.json"
    assert path.read_bytes() == b'{"type": "service_account"}'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secret_has_one_key_per_file(tmp_path: Path) -> None:
    (tmp_path / "key.json").write_bytes(b"{}")
    secret = build_credentials_secret(
        [tmp_path / "key.json"], name="etl-credentials", namespace="etl"
    )
    assert secret["metadata"] == {
        "name": "etl-credentials",
        "namespace": "etl",
        "labels": {"app.kubernetes.io/name": "etl-framework"},
    }
    assert base64.b64decode(secret["data"]["key.json"]) == b"{}"


def test_secret_refuses_missing_or_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fetch-credentials"):
        build_credentials_secret([tmp_path / "nope.json"], name="s", namespace="n")
    (tmp_path / "empty.json").touch()
    with pytest.raises(ConfigError, match="empty"):
        build_credentials_secret([tmp_path / "empty.json"], name="s", namespace="n")
