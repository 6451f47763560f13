"""Source fingerprints for change detection (`ETLJob.source_fingerprint`): a string that
changes whenever the source's content may have changed, or None when it cannot tell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    from etl_framework.gcp.storage import split_gcs_uri, storage_client

    bucket, key = split_gcs_uri(uri)
    blob = storage_client().bucket(bucket).get_blob(key)
    if blob is None:
        raise SourceError(f"source object {uri} does not exist")
    return f"gs:{blob.generation}" if blob.generation else None


def query_fingerprint(connection: Any, query: str, params: dict[str, Any] | None = None) -> str:
    """A SQL source's fingerprint: the sha256 of the rows a user query returns, e.g.
    ``SELECT max(updated_at), count(*) FROM orders WHERE day >= :start``. ``connection``
    is a SQLAlchemy connection or engine."""
    import hashlib

    import sqlalchemy as sa

    def rows(conn: Any) -> list[Any]:
        return [tuple(row) for row in conn.execute(sa.text(query), params or {})]

    if isinstance(connection, sa.engine.Engine):
        with connection.connect() as conn:
            result = rows(conn)
    else:
        result = rows(connection)
    return "sql:" + hashlib.sha256(repr(result).encode()).hexdigest()


def http_fingerprint(session: Any, url: str, **kwargs: Any) -> str | None:
    """An HTTP source's fingerprint: its ``ETag``, else its ``Last-Modified``, from a
    HEAD request (``session``: a `requests.Session`, e.g. the connector's, so auth
    applies). None when the API gives neither: such a source never skips."""
    response = session.head(url, allow_redirects=True, **kwargs)
    response.raise_for_status()
    return validators_fingerprint(response.headers)


HEAD_REFUSED = frozenset({400, 403, 404, 405, 406, 501})
"""Statuses of a HEAD request after which the first page is fetched with GET instead
(APIs that do not serve HEAD answer one of these)."""


def validators_fingerprint(headers: Any) -> str | None:
    """``etag:<ETag>``, else ``last-modified:<Last-Modified>``, else None."""
    etag = headers.get("ETag")
    if etag:
        return f"etag:{etag}"
    modified = headers.get("Last-Modified")
    return f"last-modified:{modified}" if modified else None


def http_source_fingerprint(connector: Any, url: str, params: Any = None) -> str | None:
    """An HTTP source's fingerprint through its connector (auth, timeouts, retries):
    ``ETag`` / ``Last-Modified`` of a HEAD of the first page, or of the first page
    itself when the API refuses HEAD. None when the API gives neither."""
    from etl_framework.http.errors import HttpStatusError

    try:
        response = connector.request("HEAD", url, params=params)
    except HttpStatusError as exc:
        if exc.status not in HEAD_REFUSED:
            raise
        response = connector.request("GET", url, params=params)
    try:
        return validators_fingerprint(response.headers)
    finally:
        response.close()
