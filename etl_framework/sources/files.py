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
from etl_framework.sources.located import FileOrigin, LocatedRecord, locate

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
    from etl_framework.gcp.storage import split_gcs_uri, storage_client

    try:
        from google.api_core import exceptions as gexc
    except ImportError:
        from etl_framework.exceptions import missing_extra_error

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
    NULLs silently). Blank lines are skipped. Each row is a `LocatedRecord` that
    knows its file and first line, so a bad value is reported as ``FILE line N``.
    """
    # csv.DictReader's own options: fill short lines with ``restval``, keep extra
    # fields under ``restkey``, or give the ``fieldnames`` a headerless file lacks
    restval: str | None = fmtparams.pop("restval", None)
    restkey: str | None = fmtparams.pop("restkey", None)
    fieldnames: list[str] | None = fmtparams.pop("fieldnames", None)
    origin = FileOrigin(location)
    with open_binary(location, compression=compression, client=client) as raw:
        reader = csv.reader(
            io.TextIOWrapper(raw, encoding=encoding, newline=""), delimiter=delimiter, **fmtparams
        )
        try:
            header = list(fieldnames) if fieldnames is not None else next(reader, None)
            if header is None:
                return
            width = len(header)
            last_line = reader.line_num
            for row in reader:
                line, last_line = last_line + 1, reader.line_num  # a record's first line
                if not row:  # a blank line
                    continue
                if len(row) == width:
                    yield LocatedRecord(zip(header, row, strict=True), origin, line)
                    continue
                if len(row) < width and restval is not None:
                    row += [restval] * (width - len(row))
                    yield LocatedRecord(zip(header, row, strict=True), origin, line)
                    continue
                if len(row) > width and restkey is not None:
                    record = LocatedRecord(zip(header, row[:width], strict=True), origin, line)
                    record[restkey] = row[width:]
                    yield record
                    continue
                more_or_fewer = "more" if len(row) > width else "fewer"
                raise SourceError(
                    f"{location}: line {line} has {more_or_fewer} fields than the header"
                    f" ({len(row)}, not {width})"
                )
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
    """Each JSON value of a newline-delimited JSON file (blank lines skipped), streamed.

    Objects come as `LocatedRecord` s (file and line number, for error messages).
    """
    origin = FileOrigin(location)
    with open_binary(location, compression=compression, client=client) as raw:
        number = 0
        try:
            for number, line in enumerate(raw, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError as exc:
                    raise SourceError(f"{location}: line {number} is not JSON: {exc}") from None
                yield locate(value, origin, number)
        except (EOFError, gzip.BadGzipFile, OSError) as exc:
            raise SourceError(f"{location}: unreadable after line {number}: {exc}") from exc
