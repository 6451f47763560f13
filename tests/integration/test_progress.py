"""A long ``pipeline`` run off a terminal logs JSON progress lines while it works."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.pipeline import run_pipeline


def test_pipeline_logs_json_progress_lines_while_it_runs(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state:\n  url: sqlite:///{tmp_path / 'state.db'}\n"
        "logging:\n  format: json\n  progress_seconds: 0.3\n"
        f"transfers:\n  trace_job:\n    trace_dir: {tmp_path / 'trace'}\n"
        "    sleep_seconds: 1.5\n"
    )
    result = run_pipeline(["20240301", "trace_job", "truncate", str(config)], tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    progress = [r for r in records if r.get("event") == "progress"]
    assert len(progress) >= 3, result.stderr
    assert {"rows_read", "rows_written", "rows_per_second", "elapsed_seconds"} <= set(progress[0])
    assert progress[0]["transfer"] == "trace_job" and progress[0]["run_id"]
    assert [r["elapsed_seconds"] for r in progress] == sorted(
        r["elapsed_seconds"] for r in progress
    )
