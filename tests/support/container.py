"""The job image tests' helpers: the files planted in a clone, podman and invoke runs.

The session fixtures that build the image live in tests/integration/container/conftest.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TAG = "localhost/etl-framework:test"
BASE_IMAGE = "docker.io/library/python:3.11-slim"
REVISION = "0123456789ab"
FAKE_KEY = '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----FAKE"}'
PLANTED: dict[str, str] = {
    # credentials a careless user leaves in a checkout; each carries a marker of its own
    "jobs/key.json": FAKE_KEY,
    "jobs/config/prod-key.json": FAKE_KEY,
    "jobs/data/service-account-etl.json": FAKE_KEY,
    "jobs/data/client.pem": "-----BEGIN CERTIFICATE-----",
    "jobs/config/signing.p12": "pkcs12",
    "jobs/.env": "WAREHOUSE_PASSWORD=hunter2",
    "jobs/config/.env": "API_TOKEN=tok",
    ".env": "STATE_DB_URL=postgresql://u:pw@h/db",
    "etl_framework/deploy-key.json": FAKE_KEY,
    "keyscredentials/key.json": FAKE_KEY,
    "keyscredentials/notes.txt": "where the keys came from",
    ".etl/state.db": "local state",
}
"""Files planted in the fresh clone, none of which may reach the image or git."""


def planted_marker(path: str) -> str:
    return f"PLANTED-{path.replace('/', '_')}"


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


def clone_with_planted_files(dest: Path) -> None:
    """A fresh clone of the repository (its committed state), plus `PLANTED` files."""
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(dest)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    for path, content in PLANTED.items():
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"{content}\n{planted_marker(path)}\n")


def prune_dangling() -> None:
    """Remove untagged images of earlier builds (ours only, by label), not the base."""
    for title in ("etl-framework", "etl-framework-builder"):
        podman(
            "image", "prune", "--force", "--filter",
            f"label=org.opencontainers.image.title={title}",
        )  # fmt: skip
