"""``invoke test-docker-local --config-dir DIR --data-dir DIR`` runs the image built for
the session with a local config and sample data mounted: a new sample is tried in the
image without rebuilding it (issue 18 item 7)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from tests.support.container import REPO, invoke

pytestmark = pytest.mark.timeout(900)

SAMPLE_ROWS = 7
CONFIG = """\
state:
  url: sqlite:///.etl/state.db
logging:
  format: text
connections:
  warehouse:
    type: sql
    url: sqlite:///.etl/warehouse.db
transfers:
  demo_orders:
    table: sample_orders
    source: data/sample_orders.csv
"""
"""The image's ``jobs/config/local.yaml`` replaced: the demo job reads the mounted
sample (``/app/data``: the data folder is outside the repository) into another table."""


def readable(folder: Path) -> Path:
    """The image's non-root user reads the mounts (pytest's folders are 0700)."""
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def test_mounted_config_and_sample_are_what_the_image_runs(
    image: str, build_context: Path, tmp_path: Path
) -> None:
    config_dir = tmp_path / "config"
    data_dir = tmp_path / "data"
    config_dir.mkdir()
    data_dir.mkdir()
    (config_dir / "local.yaml").write_text(CONFIG)
    with gzip.open(REPO / "jobs" / "data" / "demo_orders.csv.gz", "rt") as demo:
        lines = [next(demo) for _ in range(SAMPLE_ROWS + 1)]  # the header and 7 orders
    (data_dir / "sample_orders.csv").write_text("".join(lines))
    result = invoke(
        "test-docker-local", "--tag", image, "--engine", "podman",
        "--test-execution-date", "20240115",
        "--config-dir", str(readable(config_dir)), "--data-dir", str(readable(data_dir)),
        cwd=build_context,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "created target table sample_orders" in output, output[-4000:]
    assert f"succeeded, {SAMPLE_ROWS} rows read, {SAMPLE_ROWS} written" in output, output[-4000:]
    assert f"{data_dir}:/app/data:ro" in output  # the task's podman command, as printed
