"""Google Cloud Storage through google-cloud-storage (imported lazily).

`GcsConnector` (``type: gcs``) reads, writes, lists and deletes objects for file sources, page
caches, exports and BigQuery staging. Large objects stream in both directions:
`GcsConnector.open_object` reads in chunks, and writes of files or streams use resumable
uploads in `DEFAULT_CHUNK_SIZE` pieces, so memory does not grow with object size.

Errors: a missing object is `GcsNotFoundError` (a `SourceError`); throttling and
server errors that survived the client's retries are `SourceUnavailableError`
(transient, exit 75); anything else the API refuses is a `JobError`.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, ClassVar, Literal

from etl_framework.connections import Connector, ConnectorConfig
from etl_framework.exceptions import (
    ConfigError,
    JobError,
    SourceError,
    SourceUnavailableError,
)
from etl_framework.gcp.storage import (
    GCS_SCHEME,
    split_gcs_prefix,
    split_gcs_uri,
    storage_client,
)

if TYPE_CHECKING:
    import datetime as dt

    from google.cloud.storage import Blob, Client

DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
"""Resumable upload / streaming download piece size (a multiple of 256 KiB)."""

logger = logging.getLogger(__name__)


class GcsNotFoundError(SourceError):
    """The object or bucket does not exist."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        super().__init__(f"{uri} does not exist")


def _translate(exc: Exception, uri: str, action: str) -> Exception:
    """Our error for a google-api-core error about ``uri``."""
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.NotFound):
        return GcsNotFoundError(uri)
    if isinstance(exc, (gexc.TooManyRequests, gexc.ServerError, gexc.RetryError)):
        return SourceUnavailableError(f"cannot {action} {uri}: {exc}")
    return JobError(f"cannot {action} {uri}: {exc}")


def _abort_upload(handle: IO[Any], uri: str) -> None:
    """Cancel a `Blob.open` writer's resumable upload without finalizing it.

    Closing a ``BlobWriter`` would upload the buffered rest as the final chunk and
    publish a partial object; ``terminate`` deletes the upload session instead and
    closes the writer (so its finalizer cannot publish either).
    """
    writer: Any = getattr(handle, "buffer", handle)  # text mode: the TextIOWrapper's
    try:
        writer.terminate()
    except Exception as exc:  # the session expires on its own; never finalize it
        logger.warning("could not cancel the upload to %s: %s", uri, exc)
        with contextlib.suppress(Exception):
            writer._buffer.close()


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object."""

    uri: str
    name: str
    size: int
    updated: dt.datetime | None
    generation: int | None
    content_type: str | None


class GcsConfig(ConnectorConfig):
    """``type: gcs``: project and credentials; the bucket is part of every URI."""

    type: Literal["gcs"] = "gcs"
    project: str | None = None
    credentials_file: str | None = None
    """Path of a key file mounted at run time (``keyscredentials/``); None = ADC."""
    chunk_size: int = DEFAULT_CHUNK_SIZE
    """Resumable upload and streaming download piece size, bytes (multiple of 256 KiB)."""


class GcsConnector(Connector):
    """Objects in Google Cloud Storage, addressed by ``gs://bucket/key`` URIs."""

    type_name = "gcs"
    config_model = GcsConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"stream", "resumable_upload"})

    config: GcsConfig

    def __init__(self, name: str, config: ConnectorConfig) -> None:
        super().__init__(name, config)
        self._client: Any = None

    @property
    def client(self) -> Client:
        self.open()
        return self._client

    def _open(self) -> None:
        if self.config.chunk_size % (256 * 1024):
            raise ConfigError(
                f"connection {self.name!r}: chunk_size {self.config.chunk_size} must be a "
                "multiple of 262144 (256 KiB)"
            )
        self._client = storage_client(self.config.project, self.config.credentials_file)

    def _close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def blob(self, uri: str) -> Blob:
        bucket, key = split_gcs_uri(uri)
        return self.client.bucket(bucket).blob(key, chunk_size=self.config.chunk_size)

    # --- reading -------------------------------------------------------------------

    def read_bytes(self, uri: str) -> bytes:
        """The whole object (small objects: config, manifests)."""
        try:
            data: bytes = self.blob(uri).download_as_bytes()
        except Exception as exc:
            raise _translate(exc, uri, "read") from exc
        return data

    def read_text(self, uri: str, encoding: str = "utf-8") -> str:
        return self.read_bytes(uri).decode(encoding)

    @contextmanager
    def open_object(
        self, uri: str, mode: Literal["rb", "wb", "r", "w"] = "rb"
    ) -> Iterator[IO[Any]]:
        """A file object streaming the object in chunks (write modes: resumable upload).

        Writing publishes the object only when the block ends normally: if it raises
        (or the run is interrupted), the upload is cancelled, never finalized, so no
        partial object appears and an existing object at ``uri`` is left as it was.
        """
        blob = self.blob(uri)
        try:
            handle = blob.open(mode, chunk_size=self.config.chunk_size)
        except Exception as exc:
            raise _translate(exc, uri, "open") from exc
        if mode in ("rb", "r"):
            try:
                yield handle
            finally:
                handle.close()
            return
        try:
            yield handle
        except BaseException:
            _abort_upload(handle, uri)
            raise
        try:
            handle.close()  # finalizes the resumable upload: the object appears now
        except Exception as exc:
            _abort_upload(handle, uri)
            raise _translate(exc, uri, "write") from exc

    def iter_lines(self, uri: str, encoding: str = "utf-8") -> Iterator[str]:
        """The object's lines without line ends, streamed (NDJSON exports, CSV)."""
        from google.api_core import exceptions as gexc

        try:
            with self.open_object(uri, "rb") as handle:
                for raw in handle:
                    yield raw.decode(encoding).rstrip("\r\n")
        except gexc.GoogleAPIError as exc:
            raise _translate(exc, uri, "read") from exc

    def download_file(self, uri: str, path: str | os.PathLike[str]) -> None:
        try:
            self.blob(uri).download_to_filename(os.fspath(path))
        except Exception as exc:
            raise _translate(exc, uri, "download") from exc

    def exists(self, uri: str) -> bool:
        try:
            return bool(self.blob(uri).exists())
        except Exception as exc:
            raise _translate(exc, uri, "check") from exc

    # --- writing -------------------------------------------------------------------

    def write_bytes(
        self,
        uri: str,
        data: bytes | str,
        *,
        content_type: str | None = None,
        if_generation_match: int | None = None,
    ) -> None:
        """Write a small object in one request (``if_generation_match=0``: create only)."""
        try:
            self.blob(uri).upload_from_string(
                data,
                content_type=content_type or "application/octet-stream",
                if_generation_match=if_generation_match,
            )
        except Exception as exc:
            raise _translate(exc, uri, "write") from exc

    def upload_file(
        self,
        path: str | os.PathLike[str],
        uri: str,
        *,
        content_type: str | None = None,
        if_generation_match: int | None = None,
    ) -> None:
        """Upload a local file with a resumable upload (chunked: memory stays flat)."""
        try:
            self.blob(uri).upload_from_filename(
                os.fspath(path),
                content_type=content_type,
                if_generation_match=if_generation_match,
            )
        except Exception as exc:
            raise _translate(exc, uri, "upload") from exc

    def upload_stream(
        self, stream: IO[bytes], uri: str, *, content_type: str | None = None
    ) -> None:
        """Upload from a binary file object of unknown size (resumable, chunked)."""
        try:
            self.blob(uri).upload_from_file(stream, content_type=content_type)
        except Exception as exc:
            raise _translate(exc, uri, "upload") from exc

    # --- listing and deleting --------------------------------------------------------

    def list_objects(self, prefix_uri: str, *, pattern: str | None = None) -> list[ObjectInfo]:
        """Objects under ``gs://bucket/prefix``, by name; ``pattern`` is an fnmatch glob
        on the full URI (e.g. ``gs://b/exports/*.json``)."""
        bucket, prefix = split_gcs_prefix(prefix_uri)
        try:
            blobs = list(self.client.list_blobs(bucket, prefix=prefix or None))
        except Exception as exc:
            raise _translate(exc, prefix_uri, "list") from exc
        found = []
        for blob in blobs:
            uri = f"{GCS_SCHEME}{bucket}/{blob.name}"
            if blob.name.endswith("/") or (pattern and not fnmatch.fnmatchcase(uri, pattern)):
                continue
            found.append(
                ObjectInfo(
                    uri,
                    blob.name,
                    int(blob.size or 0),
                    blob.updated,
                    blob.generation,
                    blob.content_type,
                )
            )
        return sorted(found, key=lambda o: o.name)

    def delete(self, uri: str, *, missing_ok: bool = True) -> bool:
        """Delete one object; return whether it existed."""
        from google.api_core import exceptions as gexc

        try:
            self.blob(uri).delete()
        except gexc.NotFound:
            if missing_ok:
                return False
            raise GcsNotFoundError(uri) from None
        except Exception as exc:
            raise _translate(exc, uri, "delete") from exc
        return True

    def delete_prefix(self, prefix_uri: str) -> int:
        """Delete every object under a prefix (e.g. a run's staging folder); return the count."""
        _bucket, prefix = split_gcs_prefix(prefix_uri)
        if not prefix:
            raise ConfigError(f"refusing to delete a whole bucket: {prefix_uri!r}")
        count = 0
        for info in self.list_objects(prefix_uri):
            count += self.delete(info.uri)
        return count


__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "GcsConfig",
    "GcsConnector",
    "GcsNotFoundError",
    "ObjectInfo",
]
