"""Build, run and push the job image with docker or podman (used by tasks.py and the tests).

`pick_engine` uses docker when its daemon answers and podman otherwise (CI has no
Docker engine). `build_command` passes the host's pip settings (index URLs, trusted
hosts, CA certificate) as build *secrets* (``pipconf``, ``pipcert``; see the
Dockerfile), so a build behind a proxy or a private index works and neither the
settings nor any host name land in a layer or in the repository.

The functions here return argument lists; `run` executes one and raises on failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from etl_framework._version import __version__
from etl_framework.exceptions import ConfigError

ENGINES = ("docker", "podman")
ENGINE_ENV = "ETL_CONTAINER_ENGINE"
"""Force an engine (``docker`` or ``podman``) instead of probing."""
LOCAL_IMAGE = "localhost/etl-framework"
"""Repository of locally built images (a full name, so podman never searches registries)."""
DEFAULT_TAG = "dev"
DIGEST_REF = re.compile(r"^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$")
"""An image reference pinned by digest (``REPOSITORY[:TAG]@sha256:<64 hex>``)."""
IMAGE_UID = 10001
"""The image's numeric user (Dockerfile ``USER``)."""
_PIP_KEYS = ("index-url", "extra-index-url", "trusted-host", "timeout", "retries")
_PIP_SECTIONS = ("global", "install", ":env:")


def _docker_daemon_answers(timeout: float = 10.0) -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def pick_engine(preferred: str | None = None) -> str:
    """``docker`` if its daemon answers, else ``podman``; ``$ETL_CONTAINER_ENGINE`` wins.

    Raises:
        ConfigError: The requested engine is unknown or not installed, or neither is.
    """
    choice = preferred or os.environ.get(ENGINE_ENV)
    if choice:
        if choice not in ENGINES:
            raise ConfigError(
                f"unknown container engine {choice!r}: use one of {', '.join(ENGINES)}"
            )
        if shutil.which(choice) is None:
            raise ConfigError(f"container engine {choice!r} is not installed")
        return choice
    if _docker_daemon_answers():
        return "docker"
    if shutil.which("podman"):
        return "podman"
    raise ConfigError(
        "no container engine: start the Docker daemon or install podman (script/setup/podman)"
    )


def git_revision(repo: str | Path = ".") -> str:
    """The checked-out commit (short), or ``unknown`` outside a git work tree."""
    try:
        result = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def parse_pip_config(listing: str) -> dict[str, str]:
    """The build-relevant settings from ``pip config list`` output.

    Keeps index URLs, trusted hosts, timeout/retries and the CA bundle (``cert``); drops
    ``file://`` indexes and local paths, which do not exist inside a build.
    """
    out: dict[str, str] = {}
    for line in listing.splitlines():
        name, sep, value = line.partition("=")
        if not sep or "." not in name:
            continue
        section, _, key = name.rpartition(".")
        if section not in _PIP_SECTIONS:
            continue
        value = value.strip().strip("'\"")
        if key == "cert":
            out["cert"] = value
        elif key in _PIP_KEYS:
            kept = [v for v in value.split() if not v.startswith(("file:", "/"))]
            if kept:
                out[key] = " ".join(kept)
    return out


def pip_config_listing() -> str:
    """``pip config list`` of the running interpreter ("" if pip cannot tell)."""
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout if result.returncode == 0 else ""


@dataclass(frozen=True)
class BuildSecrets:
    """Files handed to the build as secrets ``pipconf`` / ``pipcert``."""

    pip_conf: Path
    cert: Path | None

    def args(self) -> list[str]:
        out = ["--secret", f"id=pipconf,src={self.pip_conf}"]
        if self.cert is not None:
            out += ["--secret", f"id=pipcert,src={self.cert}"]
        return out


def write_build_secrets(directory: str | Path, settings: Mapping[str, str]) -> BuildSecrets:
    """Write a pip.conf for the build from `parse_pip_config` settings."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["[global]"]
    cert: Path | None = None
    for key, value in sorted(settings.items()):
        if key == "cert":
            if Path(value).is_file():
                cert = Path(value)
                lines.append("cert = /run/secrets/pipcert")
            continue
        lines.append(f"{key} = {value}")
    conf = directory / "pip.conf"
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    conf.chmod(0o600)
    return BuildSecrets(conf, cert)


def build_command(
    engine: str,
    tag: str,
    *,
    context: str | Path = ".",
    version: str = __version__,
    revision: str = "unknown",
    secrets: BuildSecrets | None = None,
    pull: bool = True,
    base_image: str | None = None,
) -> list[str]:
    """``docker|podman build`` with the OCI label build args (and pip secrets).

    ``base_image`` replaces the Dockerfile's digest-pinned ``BASE_IMAGE`` (it must be
    pinned by digest too: ``REPOSITORY@sha256:<64 hex>``).

    Raises:
        ConfigError: ``base_image`` is not pinned by digest.
    """
    cmd = [engine, "build", "-t", tag]
    cmd += ["--build-arg", f"VERSION={version}", "--build-arg", f"REVISION={revision}"]
    if base_image is not None:
        if not DIGEST_REF.match(base_image):
            raise ConfigError(
                f"base image {base_image!r} is not pinned by digest: use REPOSITORY@sha256:<64 hex>"
            )
        cmd += ["--build-arg", f"BASE_IMAGE={base_image}"]
    if not pull:
        cmd.append("--pull=never" if engine == "podman" else "--pull=false")
    if secrets is not None:
        cmd += secrets.args()
    cmd.append(str(context))
    return cmd


def run_command(
    engine: str,
    image: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    volumes: Sequence[str] = (),
    read_only: bool = True,
) -> list[str]:
    """``docker|podman run --rm`` of the image as its own non-root user, like a pod.

    ``read_only`` mirrors the pod's readOnlyRootFilesystem: ``/tmp`` and the working
    directory's ``.etl`` are tmpfs mounts, as the Job's emptyDirs are.
    """
    cmd = [engine, "run", "--rm"]
    if read_only:
        # the state dir belongs to the image's user, as fsGroup makes it in a pod
        owner = "U" if engine == "podman" else f"uid={IMAGE_UID},gid={IMAGE_UID}"
        cmd += ["--read-only", "--tmpfs", "/tmp", "--tmpfs", f"/app/.etl:rw,{owner}"]
    for name, value in sorted((env or {}).items()):
        cmd += ["-e", f"{name}={value}"]
    for volume in volumes:
        cmd += ["-v", volume]
    cmd.append(image)
    cmd += list(args)
    return cmd


def push_commands(engine: str, local: str, remote: str) -> list[list[str]]:
    """Tag the local image with its registry name and push it."""
    return [[engine, "tag", local, remote], [engine, "push", remote]]


def run(cmd: Sequence[str], *, timeout: float | None = None) -> None:
    """Run a command, streaming its output; raise CalledProcessError if it fails."""
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(list(cmd), check=True, timeout=timeout)
