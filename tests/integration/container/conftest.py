"""The job image, built once per session with `invoke make-docker-image` and podman."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.container import (
    BASE_IMAGE,
    REPO,
    REVISION,
    TAG,
    clone_with_planted_files,
    invoke,
    podman,
    prune_dangling,
)


@pytest.fixture(scope="session")
def build_context() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="etl-image-") as tmp:
        context = Path(tmp) / "context"
        clone_with_planted_files(context)
        yield context


@pytest.fixture(scope="session")
def image(build_context: Path) -> Iterator[str]:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run script/setup/podman (as root)")
    if podman("image", "exists", BASE_IMAGE).returncode != 0:
        pytest.fail(f"{BASE_IMAGE} is not in local storage: run script/setup/podman (as root)")
    if not (REPO / "constraints.txt").exists():
        pytest.fail("constraints.txt (the pinned lock the image installs from) is missing")
    # the local stand-in by its digest: the build takes the same digest-pinned path as
    # the Dockerfile's own BASE_IMAGE (which names the registry's image)
    digest = podman("image", "inspect", "--format", "{{.Digest}}", BASE_IMAGE).stdout.strip()
    started = time.monotonic()
    result = invoke(
        "make-docker-image", "--tag", TAG, "--engine", "podman", "--revision", REVISION,
        "--base-image", f"{BASE_IMAGE.rsplit(':', 1)[0]}@{digest}",
        cwd=build_context,
        timeout=840,
    )  # fmt: skip
    print(f"image build took {time.monotonic() - started:.0f} s")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    yield TAG
    prune_dangling()
