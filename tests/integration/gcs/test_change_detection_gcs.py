"""``pipeline --skip-unchanged`` with a gs:// source: the object's generation is its
fingerprint (GCS emulator; the demo transfer through the real CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.change_detection import DEMO_DATA, demo_config, ledger_runs, ran, skipped


@pytest.mark.gcs
def test_gs_source_skips_until_the_object_is_rewritten(tmp_path: Path, gcs_bucket: str) -> None:
    from etl_framework.gcp.storage import storage_client

    blob = storage_client().bucket(gcs_bucket).blob("exports/orders.csv.gz")
    blob.upload_from_filename(str(DEMO_DATA))
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    config = demo_config(
        tmp_path,
        state_url,
        source=f"gs://{gcs_bucket}/exports/orders.csv.gz",
    )
    warehouse = tmp_path / "wh.db"

    ran(config, "--skip-unchanged")  # nothing to compare with yet: it runs
    ((first, status, _, _),) = ledger_runs(state_url)
    assert status == "succeeded"
    before = warehouse.stat().st_mtime_ns

    since = skipped(config)  # same object, same generation
    assert since == first
    assert warehouse.stat().st_mtime_ns == before

    # rewritten with the very same bytes: a new generation, so it runs again
    generation = storage_client().bucket(gcs_bucket).get_blob("exports/orders.csv.gz").generation
    blob.upload_from_filename(str(DEMO_DATA))
    rewritten = storage_client().bucket(gcs_bucket).get_blob("exports/orders.csv.gz")
    assert rewritten.generation != generation
    ran(config, "--skip-unchanged")
    assert warehouse.stat().st_mtime_ns != before
    since = skipped(config)  # and the new generation skips in turn
    runs = ledger_runs(state_url)
    assert [status for _, status, _, _ in runs] == [
        "succeeded",
        "skipped",
        "succeeded",
        "skipped",
    ]
    assert runs[1][2] == f"inputs unchanged since run {first}"
    assert since == runs[2][0] and runs[3][2] == f"inputs unchanged since run {since}"
