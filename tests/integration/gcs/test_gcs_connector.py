"""GcsConnector with the real google-cloud-storage client against gcp-storage-emulator."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from etl_framework.connections import build_connector
from etl_framework.connectors.gcs import GcsConnector, GcsNotFoundError
from etl_framework.exceptions import ConfigError
from etl_framework.gcp.storage import read_bytes

CHUNK = 256 * 1024


@pytest.fixture
def gcs(gcs_bucket: str) -> GcsConnector:
    connector = build_connector("files", {"type": "gcs", "chunk_size": CHUNK})
    assert isinstance(connector, GcsConnector)
    with connector:
        yield connector  # type: ignore[misc]


def test_write_read_exists_delete(gcs: GcsConnector, gcs_bucket: str) -> None:
    uri = f"gs://{gcs_bucket}/a/b.txt"
    assert not gcs.exists(uri)
    gcs.write_bytes(uri, "héllo\n", content_type="text/plain")
    assert gcs.exists(uri)
    assert gcs.read_text(uri) == "héllo\n"
    assert read_bytes(uri) == "héllo\n".encode()
    assert gcs.delete(uri) is True
    assert gcs.delete(uri) is False
    with pytest.raises(GcsNotFoundError, match="does not exist"):
        gcs.read_bytes(uri)
    with pytest.raises(GcsNotFoundError):
        gcs.delete(uri, missing_ok=False)


def test_config_loading_reads_gs_uri_and_reports_missing(
    gcs: GcsConnector, gcs_bucket: str
) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_bytes(f"gs://{gcs_bucket}/missing.yaml")


def test_list_by_prefix_and_pattern_sorted(gcs: GcsConnector, gcs_bucket: str) -> None:
    for name in (
        "exp/dt=2024-01-02/p1.json",
        "exp/dt=2024-01-01/p0.json",
        "exp/dt=2024-01-01/_SUCCESS",
        "other/x.json",
    ):
        gcs.write_bytes(f"gs://{gcs_bucket}/{name}", b"{}\n")
    listed = gcs.list_objects(f"gs://{gcs_bucket}/exp/")
    assert [o.name for o in listed] == [
        "exp/dt=2024-01-01/_SUCCESS",
        "exp/dt=2024-01-01/p0.json",
        "exp/dt=2024-01-02/p1.json",
    ]
    assert listed[1].size == 3
    json_only = gcs.list_objects(f"gs://{gcs_bucket}/exp/", pattern="*.json")
    assert [o.uri for o in json_only] == [
        f"gs://{gcs_bucket}/exp/dt=2024-01-01/p0.json",
        f"gs://{gcs_bucket}/exp/dt=2024-01-02/p1.json",
    ]
    assert gcs.delete_prefix(f"gs://{gcs_bucket}/exp/") == 3
    assert [o.name for o in gcs.list_objects(f"gs://{gcs_bucket}")] == ["other/x.json"]
    with pytest.raises(ConfigError, match="whole bucket"):
        gcs.delete_prefix(f"gs://{gcs_bucket}")


def test_large_object_resumable_upload_and_streamed_read(
    gcs: GcsConnector, gcs_bucket: str, tmp_path: Path
) -> None:
    """Several chunks each way: the upload is resumable, the read streams."""
    data = os.urandom(3 * CHUNK + 1234)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    uri = f"gs://{gcs_bucket}/big/big.bin"
    gcs.upload_file(path, uri)
    digest = hashlib.sha256()
    with gcs.open_object(uri, "rb") as handle:
        while piece := handle.read(100_000):
            digest.update(piece)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    target = tmp_path / "back.bin"
    gcs.download_file(uri, target)
    assert target.read_bytes() == data

    # A stream of unknown length, written through the file-object API.
    with gcs.open_object(f"gs://{gcs_bucket}/big/lines.ndjson", "wb") as out:
        for i in range(40_000):
            out.write(b'{"i": %d, "pad": "................"}\n' % i)
    lines = list(gcs.iter_lines(f"gs://{gcs_bucket}/big/lines.ndjson"))
    assert len(lines) == 40_000
    assert lines[-1] == '{"i": 39999, "pad": "................"}'
    gcs.upload_stream(io.BytesIO(data), f"gs://{gcs_bucket}/big/stream.bin")
    assert gcs.read_bytes(f"gs://{gcs_bucket}/big/stream.bin") == data


def test_missing_bucket_is_not_found(gcs: GcsConnector) -> None:
    with pytest.raises(GcsNotFoundError):
        gcs.read_bytes("gs://no-such-bucket-xyz/k")


def test_chunk_size_must_be_multiple_of_256k(gcs_bucket: str) -> None:
    connector = build_connector("files", {"type": "gcs", "chunk_size": 1000})
    with pytest.raises(ConfigError, match="256 KiB"):
        connector.open()


class _SourceFailed(Exception):
    pass


@pytest.mark.parametrize(
    ("mode", "piece"),
    [
        ("wb", b'{"id": 1}\n{"id"'),  # less than a chunk: nothing sent yet
        ("wb", b"x" * (2 * CHUNK + 10)),  # chunks already sent: the session is open
        ("w", '{"id": 1}\n' * 60_000),  # text mode (a TextIOWrapper on the writer)
    ],
)
def test_failing_writer_publishes_nothing(
    gcs: GcsConnector, gcs_bucket: str, mode: str, piece: bytes | str
) -> None:
    """A writer block that raises leaves no partial object, and an existing one as it was."""
    new = f"gs://{gcs_bucket}/out/new.ndjson"
    existing = f"gs://{gcs_bucket}/out/existing.ndjson"
    gcs.write_bytes(existing, b"previous export\n")
    for uri in (new, existing):
        with pytest.raises(_SourceFailed), gcs.open_object(uri, mode) as handle:  # type: ignore[arg-type]
            handle.write(piece)
            raise _SourceFailed("source failed mid-write")
    assert not gcs.exists(new)
    assert gcs.read_bytes(existing) == b"previous export\n"
    assert [o.name for o in gcs.list_objects(f"gs://{gcs_bucket}/out/")] == ["out/existing.ndjson"]


def test_config_from_gs_is_read_only_up_to_its_cap(gcs: GcsConnector, gcs_bucket: str) -> None:
    from etl_framework.config import MAX_CONFIG_BYTES, load_config

    small = f"gs://{gcs_bucket}/config/small.yaml"
    gcs.write_bytes(small, b"transfers: {}\n")
    assert load_config(small).transfers == {}
    empty = f"gs://{gcs_bucket}/config/empty.yaml"
    gcs.write_bytes(empty, b"")
    assert load_config(empty).transfers == {}
    big = f"gs://{gcs_bucket}/config/big.yaml"
    gcs.write_bytes(big, b"#" * (MAX_CONFIG_BYTES + 10))
    with pytest.raises(ConfigError, match="is larger than 1048576 bytes"):
        load_config(big)
