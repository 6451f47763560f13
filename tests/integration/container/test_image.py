"""Build the job image with podman and run it like a pod: non-root, read-only root fs.

Needs script/setup/podman (podman + a local stand-in for python:3.11-slim); nothing is
pulled from a registry. The build context is a copy of the repository with a planted
fake key and state files, so the test also proves .dockerignore keeps them out.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from etl_framework._version import __version__
from etl_framework.k8s.image import (
    build_command,
    parse_pip_config,
    pip_config_listing,
    run_command,
    write_build_secrets,
)

REPO = Path(__file__).resolve().parents[3]
TAG = "localhost/etl-framework:test"
BASE_IMAGE = "docker.io/library/python:3.11-slim"
MAX_IMAGE_BYTES = 350 * 1000 * 1000
FAKE_KEY = '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----FAKE"}'
REVISION = "0123456789ab"

pytestmark = pytest.mark.timeout(900)


def podman(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _copy_context(dest: Path) -> None:
    ignore = shutil.ignore_patterns(
        ".git", ".venv*", ".services", "__pycache__", ".etl", "*.egg-info"
    )
    shutil.copytree(REPO, dest, ignore=ignore, dirs_exist_ok=True)
    # things that must never reach an image
    (dest / "keyscredentials").mkdir(exist_ok=True)
    (dest / "keyscredentials" / "key.json").write_text(FAKE_KEY)
    (dest / ".etl").mkdir()
    (dest / ".etl" / "state.db").write_text("local state")


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run script/setup/podman (as root)")
    if podman("image", "exists", BASE_IMAGE).returncode != 0:
        pytest.fail(f"{BASE_IMAGE} is not in local storage: run script/setup/podman (as root)")
    if not (REPO / "constraints.txt").exists():
        pytest.fail("constraints.txt (the pinned lock the image installs from) is missing")
    with tempfile.TemporaryDirectory(prefix="etl-image-") as tmp:
        context = Path(tmp) / "context"
        _copy_context(context)
        secrets = write_build_secrets(Path(tmp) / "secrets", parse_pip_config(pip_config_listing()))
        cmd = build_command(
            "podman",
            TAG,
            context=context,
            version=__version__,
            revision=REVISION,
            secrets=secrets,
            pull=False,
        )
        started = time.monotonic()
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=840, check=False)
        print(f"image build took {time.monotonic() - started:.0f} s")
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    yield TAG


def run(image: str, *args: str, read_only: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = run_command("podman", image, list(args), read_only=read_only)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


def test_image_metadata(image: str) -> None:
    (info,) = json.loads(podman("image", "inspect", image).stdout)
    config = info["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["pipeline"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == __version__
    assert labels["org.opencontainers.image.revision"] == REVISION


def test_image_size(image: str) -> None:
    size = int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout.strip())
    print(f"image size: {size / 1e6:.0f} MB")
    assert size <= MAX_IMAGE_BYTES, f"image is {size / 1e6:.0f} MB, budget 350 MB"


def test_help_and_version_as_the_non_root_user(image: str) -> None:
    result = run(image, "--help")
    assert result.returncode == 0, result.stderr
    assert "EXECUTION_DATE" in result.stdout
    version = run(image, "--version")
    assert version.returncode == 0 and __version__ in version.stdout
    who = subprocess.run(
        ["podman", "run", "--rm", "--entrypoint", "id", image],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert who.stdout.startswith("uid=10001(etl) gid=10001(etl)"), who.stdout


def test_demo_runs_in_the_image_with_a_read_only_root(image: str) -> None:
    result = run(image, "20240115", "demo_orders", "truncate", "jobs/config/local.yaml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "succeeded" in output


def test_exit_codes_pass_through(image: str) -> None:
    assert (
        run(image, "20241345", "demo_orders", "truncate", "jobs/config/local.yaml").returncode == 2
    )
    missing = run(image, "20240115", "demo_orders", "truncate", "jobs/config/nope.yaml")
    assert missing.returncode == 3, missing.stderr


def test_no_keys_state_or_tests_in_the_image(image: str) -> None:
    script = (
        "test ! -e /app/keyscredentials && test ! -e /app/.etl/state.db && test ! -e /app/tests"
        " && ! grep -rqs 'BEGIN PRIVATE KEY' /app /opt/venv/lib/python3.11/site-packages/jobs"
        " && test -z \"$(find /opt/venv -name '*.json' -path '*keyscredentials*')\""
        " && ! command -v gcc && ! command -v cc"
    )
    result = subprocess.run(
        ["podman", "run", "--rm", "--entrypoint", "sh", image, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
