"""Config read from gs:// through the real google-cloud-storage client (emulator)."""

from __future__ import annotations

from pathlib import Path

from etl_framework.config import load_config
from etl_framework.gcp.storage import storage_client
from tests.support.pipeline import REPO, run_pipeline


def test_load_config_from_gcs(gcs_bucket: str) -> None:
    storage_client().bucket(gcs_bucket).blob("etl/config.yaml").upload_from_string(
        "logging: {format: json, level: WARNING}\n"
    )
    config = load_config(f"gs://{gcs_bucket}/etl/config.yaml")
    assert config.logging.level == "WARNING"
    assert config.location == f"gs://{gcs_bucket}/etl/config.yaml"


def test_pipeline_runs_with_config_in_gcs(
    gcs_bucket: str, gcs_emulator: str, tmp_path: Path
) -> None:
    text = (REPO / "jobs" / "config" / "local.yaml").read_text()
    storage_client().bucket(gcs_bucket).blob("local.yaml").upload_from_string(text)
    result = run_pipeline(
        ["20240115", "demo_orders", "delta", f"gs://{gcs_bucket}/local.yaml"],
        cwd=tmp_path,
        STORAGE_EMULATOR_HOST=gcs_emulator,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".etl" / "warehouse.db").exists()


def test_missing_gcs_object_is_a_config_error(
    gcs_bucket: str, gcs_emulator: str, tmp_path: Path
) -> None:
    result = run_pipeline(
        ["20240115", "demo_orders", "delta", f"gs://{gcs_bucket}/nope.yaml"],
        cwd=tmp_path,
        STORAGE_EMULATOR_HOST=gcs_emulator,
    )
    assert result.returncode == 3
    assert result.stderr.strip() == f"pipeline: error: gs://{gcs_bucket}/nope.yaml does not exist"
    assert not (tmp_path / ".etl").exists()
