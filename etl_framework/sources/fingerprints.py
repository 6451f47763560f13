"""Source fingerprints for change detection (`ETLJob.source_fingerprint`): a string that
changes whenever the source's content may have changed, or None when it cannot tell."""

from __future__ import annotations

from pathlib import Path

from etl_framework.exceptions import SourceError


def location_fingerprint(location: str | Path) -> str | None:
    """A local file: ``size:sha256`` of its content; ``gs://``: the object's generation
    (a new upload is a new generation). None for anything else."""
    text = str(location)
    if text.startswith("gs://"):
        return _gcs_generation(text)
    if "://" in text:
        return None
    from etl_framework.executions.checksums import sha256_of

    path = Path(text)
    if not path.is_file():
        raise SourceError(f"source file {text} does not exist")
    return f"file:{path.stat().st_size}:{sha256_of(path)}"


def _gcs_generation(uri: str) -> str | None:
    from etl_framework.connectors.gcs import split_gcs_uri
    from etl_framework.gcp.storage import storage_client

    bucket, key = split_gcs_uri(uri)
    blob = storage_client().bucket(bucket).get_blob(key)
    if blob is None:
        raise SourceError(f"source object {uri} does not exist")
    return f"gs:{blob.generation}" if blob.generation else None
