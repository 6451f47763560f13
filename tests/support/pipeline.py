"""Run the real `pipeline` console script in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PIPELINE = [sys.executable, "-m", "etl_framework"]


def pipeline_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETL_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["ETL_JOBS_MODULES"] = "tests.support.sample_jobs"
    env.update(extra)
    return env


def run_pipeline(
    args: list[str], cwd: Path, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PIPELINE, *args],
        cwd=cwd,
        env=pipeline_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_pipeline(args: list[str], cwd: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*PIPELINE, *args],
        cwd=cwd,
        env=pipeline_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
