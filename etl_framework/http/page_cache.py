"""A replayable cache of fetched pages, so a retried run resumes without refetching.

Pages live under ``<location>/<transfer>/<mode>/<window>/<execution date>/<source>/``
where ``location`` is a local directory or a ``gs://bucket/prefix``. The key
deliberately leaves out the run id: a retry of the same run (same transfer, mode,
window and execution date) is a new run id but must find the pages its
predecessor fetched. ``<source>`` is a hash of the first request's URL and
parameters, so two sources of one transfer never mix.

Each page is two objects: ``NNNNNN.body`` (the exact bytes received, already
verified) and ``NNNNNN.meta.json`` (the request it answered, kept headers and the
body's sha256), written second so it marks the page complete. A page whose meta
names another request, or whose body does not match its hash, is a miss. The job
calls `PageCache.clear` after a successful publish.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl_framework.gcp.storage import GCS_SCHEME

if TYPE_CHECKING:
    import datetime as dt

    from etl_framework.http.pagination import PageRequest


@dataclass(frozen=True)
class CachedPage:
    body: bytes
    headers: Mapping[str, str]


def cache_prefix(
    transfer: str, mode: str, window: str, execution_date: dt.date, source: str
) -> str:
    """The relative key of one source's pages in one (transfer, mode, window, date)."""
    source_id = hashlib.sha256(source.encode()).hexdigest()[:12]
    safe_window = window.replace("..", "_")
    return f"{transfer}/{mode}/{safe_window}/{execution_date.strftime('%Y%m%d')}/{source_id}"


def _names(index: int, part: str = "") -> tuple[str, str]:
    return f"{part}{index:06d}.body", f"{part}{index:06d}.meta.json"


def _meta(request: PageRequest, body: bytes, headers: Mapping[str, str]) -> bytes:
    return json.dumps(
        {
            "index": request.index,
            "request": request.full_url,
            "headers": dict(headers),
            "sha256": hashlib.sha256(body).hexdigest(),
            "size": len(body),
        },
        sort_keys=True,
    ).encode()


def _check(request: PageRequest, meta_bytes: bytes | None, body: bytes | None) -> CachedPage | None:
    if meta_bytes is None or body is None:
        return None
    try:
        meta: dict[str, Any] = json.loads(meta_bytes)
    except ValueError:
        return None
    if meta.get("request") != request.full_url:
        return None
    if meta.get("sha256") != hashlib.sha256(body).hexdigest():
        return None
    return CachedPage(body, dict(meta.get("headers") or {}))


class PageCache(ABC):
    """Pages of one source in one run, by page index."""

    location: str

    def get(self, request: PageRequest, part: str = "") -> CachedPage | None:
        """The cached answer to ``request``, or None. ``part`` names the date
        sub-window whose chain of pages the request belongs to ("" for the whole source)."""
        body_name, meta_name = _names(request.index, part)
        meta = self._read(meta_name)
        if meta is None:
            return None
        return _check(request, meta, self._read(body_name))

    def put(
        self, request: PageRequest, body: bytes, headers: Mapping[str, str], part: str = ""
    ) -> None:
        """Store a verified page (body first; the meta object marks it complete)."""
        body_name, meta_name = _names(request.index, part)
        self._write(body_name, body)
        self._write(meta_name, _meta(request, body, headers))

    @abstractmethod
    def clear(self) -> None:
        """Remove every page of this source and run."""

    @abstractmethod
    def count(self) -> int:
        """How many complete pages are stored."""

    @abstractmethod
    def _read(self, name: str) -> bytes | None: ...

    @abstractmethod
    def _write(self, name: str, data: bytes) -> None: ...

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.location}>"


class LocalPageCache(PageCache):
    """Pages in a local directory; each file is written atomically (rename)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.location = str(self.directory)

    def _read(self, name: str) -> bytes | None:
        try:
            return (self.directory / name).read_bytes()
        except FileNotFoundError:
            return None

    def _write(self, name: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, self.directory / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        # drop the now empty key directories up to (not including) the cache root
        parent = self.directory.parent
        for _ in range(4):
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def count(self) -> int:
        if not self.directory.is_dir():
            return 0
        return sum(1 for _ in self.directory.glob("*.meta.json"))


class GcsPageCache(PageCache):
    """Pages under a ``gs://bucket/prefix`` (object writes are atomic)."""

    def __init__(self, bucket: str, prefix: str, client: Any) -> None:
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self.location = f"{GCS_SCHEME}{bucket}/{self.prefix}"
        self._bucket = client.bucket(bucket)
        self._client = client

    def _read(self, name: str) -> bytes | None:
        from google.api_core import exceptions as gexc

        try:
            data: bytes = self._bucket.blob(f"{self.prefix}/{name}").download_as_bytes()
        except gexc.NotFound:
            return None
        return data

    def _write(self, name: str, data: bytes) -> None:
        content_type = "application/json" if name.endswith(".json") else "application/octet-stream"
        self._bucket.blob(f"{self.prefix}/{name}").upload_from_string(
            data, content_type=content_type
        )

    def clear(self) -> None:
        for blob in self._client.list_blobs(self.bucket_name, prefix=self.prefix + "/"):
            blob.delete()

    def count(self) -> int:
        return sum(
            1
            for blob in self._client.list_blobs(self.bucket_name, prefix=self.prefix + "/")
            if blob.name.endswith(".meta.json")
        )


def open_page_cache(location: str, key: str, *, gcs_client: Any = None) -> PageCache:
    """The cache for ``key`` (see `cache_prefix`) under a local dir or ``gs://`` prefix."""
    if location.startswith(GCS_SCHEME):
        from etl_framework.gcp.storage import storage_client

        bucket, _, root = location[len(GCS_SCHEME) :].partition("/")
        prefix = f"{root.strip('/')}/{key}" if root.strip("/") else key
        return GcsPageCache(bucket, prefix, gcs_client or storage_client())
    return LocalPageCache(Path(location) / key)
