"""The image's byte-code step, run here with an empty pycache prefix standing in for the
image's site-packages without byte-code: afterwards importing RUN_MODULES compiles
nothing of site-packages from source (the container test checks the built image)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from etl_framework.deploy.bytecode import RUN_MODULES, compiled_on_import


def test_a_run_after_the_byte_code_step_compiles_nothing_from_site_packages(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    step = subprocess.run(
        [sys.executable, "-m", "etl_framework.deploy.bytecode"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert step.returncode == 0, step.stderr[-3000:]
    assert int(step.stdout.split()[1]) > 300  # "compiled N modules under ..."
    loaded, compiled = compiled_on_import([sys.executable], RUN_MODULES, env)
    assert loaded > 500
    missed = [path for path in compiled if "/site-packages/" in path]
    assert not missed, f"{len(missed)} compiled from source, e.g. {missed[:5]}"
