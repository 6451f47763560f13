"""File sources reading gs:// URIs from the GCS emulator (moved out of tests/unit)."""

from __future__ import annotations

import gzip

import pytest

from etl_framework.exceptions import SourceError
from etl_framework.sources.files import csv_records, ndjson_records

CSV = 'id,name,amount\n1,a,1.50\n2,,\n3,"c, d",3\n'


@pytest.mark.gcs
def test_gcs_sources_stream_from_the_emulator(gcs_bucket: str) -> None:
    from etl_framework.gcp.storage import storage_client

    bucket = storage_client().bucket(gcs_bucket)
    bucket.blob("exports/orders.csv.gz").upload_from_string(gzip.compress(CSV.encode()))
    bucket.blob("exports/orders.ndjson").upload_from_string('{"id": 1}\n{"id": 2}\n')
    assert [r["id"] for r in csv_records(f"gs://{gcs_bucket}/exports/orders.csv.gz")] == [
        "1",
        "2",
        "3",
    ]
    assert list(ndjson_records(f"gs://{gcs_bucket}/exports/orders.ndjson")) == [
        {"id": 1},
        {"id": 2},
    ]
    with pytest.raises(SourceError, match="does not exist"):
        list(ndjson_records(f"gs://{gcs_bucket}/exports/missing.ndjson"))
