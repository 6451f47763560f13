"""CSV and NDJSON file sources, optionally gzip-compressed, from a local path or ``gs://``.

Both stream: a file is read through a buffered reader and parsed line by line, so
memory does not grow with the size of the file. ``gs://bucket/key`` objects are
streamed with the GCS client's blob reader (``google-cloud-storage``, extra
``gcs``); with ``STORAGE_EMULATOR_HOST`` set they come from the emulator.

``compression="auto"`` (default) treats names ending in ``.gz`` as gzip.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from etl_framework.exceptions import ConfigError, SourceError, SourceUnavailableError

if TYPE_CHECKING:
    from google.cloud.storage import Client

Compression = Literal["auto", "gzip", "none"]
READ_CHUNK_BYTES = 8 * 1024 * 1024
"""Chunk size of GCS blob reads."""


@contextlib.contextmanager
def open_binary(
    location: str | Path, *, compression: Compression = "auto", client: Client | None = None
) -> Iterator[IO[bytes]]:
    """A streaming binary reader of a local file or ``gs://`` object, decompressed."""
    text = str(location)
    if compression not in ("auto", "gzip", "none"):
        raise ConfigError(f"invalid compression {compression!r}: expected auto, gzip or none")
    gzipped = compression == "gzip" or (compression == "auto" and text.endswith(".gz"))
    with contextlib.ExitStack() as stack:
        raw: IO[bytes]
        if text.startswith("gs://"):
            raw = stack.enter_context(_open_gcs(text, client))
        else:
            try:
                raw = stack.enter_context(open(text, "rb"))
            except FileNotFoundError:
                raise SourceError(f"source file {text} does not exist") from None
            except OSError as exc:
                raise SourceError(f"cannot read source file {text}: {exc}") from exc
        if gzipped:
            raw = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))  # type: ignore[arg-type]
        yield raw


@contextlib.contextmanager
def _open_gcs(uri: str, client: Client | None) -> Iterator[IO[bytes]]:
    from etl_framework.connectors.gcs import split_gcs_uri, storage_client

    try:
        from google.api_core import exceptions as gexc
    except ImportError:
        from etl_framework.connectors import missing_extra_error

        raise missing_extra_error("google-cloud-storage", "gcs") from None
    bucket, key = split_gcs_uri(uri)
    client = client or storage_client()
    blob = client.bucket(bucket).blob(key)
    try:
        reader = blob.open("rb", chunk_size=READ_CHUNK_BYTES)
    except gexc.NotFound:
        raise SourceError(f"source object {uri} does not exist") from None
    except gexc.GoogleAPIError as exc:
        raise SourceUnavailableError(f"cannot read {uri}: {exc}") from exc
    try:
        yield reader
    except gexc.NotFound:
        raise SourceError(f"source object {uri} does not exist") from None
    except gexc.GoogleAPIError as exc:
        raise SourceUnavailableError(f"cannot read {uri}: {exc}") from exc
    finally:
        reader.close()


def csv_records(
    location: str | Path,
    *,
    compression: Compression = "auto",
    encoding: str = "utf-8",
    delimiter: str = ",",
    client: Client | None = None,
    **fmtparams: Any,
) -> Iterator[dict[str, str]]:
    """Each row of a CSV file with a header line, as a dict of strings (streamed).

    Empty fields are empty strings; the field mapping reads them as NULL for every
    non-text column. A line with more or fewer fields than the header raises
    `SourceError` naming the file and the line (a short line would otherwise load
    NULLs silently).
    """
    with open_binary(location, compression=compression, client=client) as raw:
        reader = csv.DictReader(
            io.TextIOWrapper(raw, encoding=encoding, newline=""), delimiter=delimiter, **fmtparams
        )
        try:
            for row in reader:
                if None in row:
                    raise SourceError(
                        f"{location}: line {reader.line_num} has more fields than the header"
                    )
                if None in row.values():  # DictReader's filler for missing fields
                    raise SourceError(
                        f"{location}: line {reader.line_num} has fewer fields than the header"
                    )
                yield row
        except (csv.Error, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
            raise SourceError(
                f"{location}: unreadable CSV near line {reader.line_num}: {exc}"
            ) from exc


def ndjson_records(
    location: str | Path,
    *,
    compression: Compression = "auto",
    client: Client | None = None,
) -> Iterator[Any]:
    """Each JSON value of a newline-delimited JSON file (blank lines skipped), streamed."""
    with open_binary(location, compression=compression, client=client) as raw:
        number = 0
        try:
            for number, line in enumerate(raw, start=1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise SourceError(f"{location}: line {number} is not JSON: {exc}") from None
        except (EOFError, gzip.BadGzipFile, OSError) as exc:
            raise SourceError(f"{location}: unreadable after line {number}: {exc}") from exc
