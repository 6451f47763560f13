"""The .dockerignore rules through podman's own matcher, on a tiny build context.

A few seconds instead of a full image build: the context holds the repository's
.dockerignore, the files the Dockerfile needs and the `PLANTED` credentials; a
``FROM scratch`` build copies the whole context, and the image lists what got in.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from tests.support.container import PLANTED, REPO, podman

KEPT = (
    "setup.py",
    "pyproject.toml",
    "constraints.txt",
    "etl_framework/__init__.py",
    "jobs/__init__.py",
    "jobs/config/local.yaml",
    "jobs/data/orders.csv",
    "jobs/config/keys.yaml",  # "key" in a name that is not a key file: kept
)


def copied_files(context: Path) -> set[str]:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run script/setup/podman (as root)")
    tag = f"localhost/etl-ignore-probe:{uuid.uuid4().hex[:8]}"
    containerfile = context.parent / "Containerfile"
    containerfile.write_text("FROM scratch\nCOPY . /ctx/\n")
    built = podman("build", "--quiet", "--pull=never", "-f", str(containerfile), "-t", tag,
                   str(context))  # fmt: skip
    assert built.returncode == 0, built.stderr
    try:
        created = podman("create", tag, "true")
        assert created.returncode == 0, created.stderr
        container = created.stdout.strip()
        try:
            exported = subprocess.run(
                ["podman", "export", container], capture_output=True, timeout=60, check=True
            ).stdout
        finally:
            podman("rm", "--force", container)
    finally:
        podman("rmi", "--force", tag)
    tar_path = context.parent / "export.tar"
    tar_path.write_bytes(exported)
    with tarfile.open(tar_path) as tar:
        return {m.name.removeprefix("ctx/") for m in tar if m.isfile()}


def test_dockerignore_keeps_planted_credentials_out_of_the_build_context(
    tmp_path: Path,
) -> None:
    context = tmp_path / "context"
    context.mkdir()
    shutil.copy(REPO / ".dockerignore", context / ".dockerignore")
    for path in (*PLANTED, *KEPT, "keyscredentials/README.md", "tests/test_x.py"):
        target = context / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path)
    copied = copied_files(context)
    assert set(KEPT) <= copied, sorted(set(KEPT) - copied)
    assert not copied & set(PLANTED), sorted(copied & set(PLANTED))
    assert not {p for p in copied if p.startswith(("keyscredentials/", "tests/"))}


def test_the_probe_sees_a_file_the_rules_do_not_exclude(tmp_path: Path) -> None:
    """Without the credential rules the planted files do get in: the check above can fail."""
    context = tmp_path / "context"
    context.mkdir()
    rules = (REPO / ".dockerignore").read_text().split("# Credentials wherever", 1)[0]
    (context / ".dockerignore").write_text(rules)
    for path in ("jobs/key.json", "jobs/data/client.pem"):
        (context / path).parent.mkdir(parents=True, exist_ok=True)
        (context / path).write_text(path)
    assert {"jobs/key.json", "jobs/data/client.pem"} <= copied_files(context)
