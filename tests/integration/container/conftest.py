"""The job image, built once per session with `invoke make-docker-image` and podman."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
TAG = "localhost/etl-framework:test"
BASE_IMAGE = "docker.io/library/python:3.11-slim"
FAKE_KEY = '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----FAKE"}'
REVISION = "0123456789ab"


def podman(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def invoke(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def copy_context(dest: Path) -> None:
    """The repository, plus things that must never reach an image."""
    ignore = shutil.ignore_patterns(
        ".git", ".venv*", ".services", "__pycache__", ".etl", "*.egg-info", "keyscredentials"
    )
    shutil.copytree(REPO, dest, ignore=ignore, dirs_exist_ok=True)
    (dest / "keyscredentials").mkdir()
    (dest / "keyscredentials" / "key.json").write_text(FAKE_KEY)
    (dest / ".etl").mkdir()
    (dest / ".etl" / "state.db").write_text("local state")


@pytest.fixture(scope="session")
def build_context() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="etl-image-") as tmp:
        context = Path(tmp) / "context"
        copy_context(context)
        yield context


def prune_dangling() -> None:
    """Remove untagged images of earlier builds (ours only, by label), not the base."""
    for title in ("etl-framework", "etl-framework-builder"):
        podman(
            "image", "prune", "--force", "--filter",
            f"label=org.opencontainers.image.title={title}",
        )  # fmt: skip


@pytest.fixture(scope="session")
def image(build_context: Path) -> Iterator[str]:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run script/setup/podman (as root)")
    if podman("image", "exists", BASE_IMAGE).returncode != 0:
        pytest.fail(f"{BASE_IMAGE} is not in local storage: run script/setup/podman (as root)")
    if not (REPO / "constraints.txt").exists():
        pytest.fail("constraints.txt (the pinned lock the image installs from) is missing")
    started = time.monotonic()
    result = invoke(
        "make-docker-image", "--tag", TAG, "--engine", "podman", "--revision", REVISION,
        cwd=build_context,
        timeout=840,
    )  # fmt: skip
    print(f"image build took {time.monotonic() - started:.0f} s")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    yield TAG
    prune_dangling()
