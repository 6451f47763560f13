"""Dataset names of lineage events: OpenLineage's conventions, never a credential."""

from __future__ import annotations

import pytest

from etl_framework.lineage import dataset_name


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (
            "sql:postgresql://db:5432/shop/public.orders",
            ("postgres://db:5432", "shop.public.orders"),
        ),
        ("sqlite:/data/.etl/warehouse.db/orders", ("sqlite:///data/.etl/warehouse.db", "orders")),
        ("bigquery:proj.ds.events", ("bigquery", "proj.ds.events")),
        ("gs://bucket/exports/2024/", ("gs://bucket", "exports/2024/")),
        ("/srv/data/orders.csv.gz", ("file", "/srv/data/orders.csv.gz")),
        (
            "https://user:pw@api.example.com:8443/v4/orders?key=s3cret#x",
            ("https://api.example.com:8443", "v4/orders"),
        ),
        ("gcs:exports/events", ("gcs", "exports/events")),
    ],
)
def test_dataset_names(key: str, expected: tuple[str, str]) -> None:
    assert dataset_name(key) == expected
    assert "s3cret" not in "".join(dataset_name(key)) and "pw" not in dataset_name(key)[0]
