"""Shared pieces of the failure-kind tests: a tiny real file system, a demo run."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from etl_framework.state import RunStore
from tests.support.pipeline import run_pipeline


@contextmanager
def tiny_tmpfs(path: Path, size: str = "1m") -> Iterator[Path]:
    """A real, tiny tmpfs at ``path`` (needs root; the test is skipped otherwise)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def run_demo(tmp_path: Path, warehouse_url: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run demo_orders (100k rows) into ``warehouse_url``; the ledger row's error too."""
    state = tmp_path / "state.db"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state: {{url: 'sqlite:///{state}'}}\n"
        "logging: {format: json}\n"
        f"connections:\n  warehouse: {{type: sql, url: '{warehouse_url}'}}\n"
    )
    result = run_pipeline(["20240115", "demo_orders", "truncate", str(config)], cwd=tmp_path)
    store = RunStore(f"sqlite:///{state}")
    try:
        [run] = store.runs()
    finally:
        store.close()
    assert run.exit_code == result.returncode
    return result, run.error or ""
