"""Build the job image with podman and run it like a pod: non-root, read-only root fs.

Needs script/setup/podman (podman + a local stand-in for python:3.11-slim); nothing is
pulled from a registry. The build context is a fresh git clone with credentials and
state files planted in it, so the tests also prove .dockerignore and .gitignore keep
them out.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from etl_framework._version import __version__
from etl_framework.deploy.bytecode import RUN_MODULES, compiled_on_import
from etl_framework.deploy.image import run_command
from etl_framework.deploy.manifests import build_backfill_job
from etl_framework.deploy.spec import get_transfer
from tests.support.container import (
    PLANTED,
    REPO,
    REVISION,
    invoke,
    planted_marker,
    podman,
)

MAX_IMAGE_BYTES = 350 * 1000 * 1000

pytestmark = pytest.mark.timeout(900)


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


def image_files(image: str) -> dict[str, bytes]:
    """Every regular file of the image (its flattened filesystem): path -> content."""
    created = podman("create", image, "true")
    assert created.returncode == 0, created.stderr
    container = created.stdout.strip()
    files: dict[str, bytes] = {}
    try:
        with subprocess.Popen(["podman", "export", container], stdout=subprocess.PIPE) as proc:
            assert proc.stdout is not None
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                for member in tar:
                    if member.isfile():
                        handle = tar.extractfile(member)
                        files["/" + member.name.lstrip("./")] = handle.read() if handle else b""
    finally:
        podman("rm", "--force", container)
    return files


def test_no_planted_key_state_or_test_file_reaches_the_image(image: str) -> None:
    """The build context is a fresh clone with credentials planted where people leave
    them (jobs/, jobs/config, jobs/data, the top level, keyscredentials/): no such file
    and no byte of one is in the built image."""
    files = image_files(image)
    assert "/app/jobs/config/local.yaml" in files  # the listing is real
    names = {path.rsplit("/", 1)[-1] for path in files}
    planted_names = {path.rsplit("/", 1)[-1] for path in PLANTED} - {"state.db"}
    assert not names & planted_names, sorted(names & planted_names)
    assert not [p for p in files if "/keyscredentials/" in p or p.startswith("/app/tests/")]
    assert "/app/.etl/state.db" not in files
    # every planted file carries a marker of its own: none may appear in any file
    leaked = [
        (path, planted)
        for planted in PLANTED
        for path, content in files.items()
        if planted_marker(planted).encode() in content
    ]
    assert not leaked, leaked
    # and no key material in our own files (libraries legitimately mention PEM headers)
    ours = ("/app/", "/opt/venv/lib/python3.11/site-packages/jobs/")
    keys = [p for p, c in files.items() if p.startswith(ours) and b"PRIVATE KEY" in c]
    assert not keys, keys


def test_no_compiler_in_the_image(image: str) -> None:
    result = subprocess.run(
        ["podman", "run", "--rm", "--entrypoint", "sh", image, "-c",
         "! command -v gcc && ! command -v cc"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_run_compiles_no_module_from_source(image: str) -> None:
    """A pod's root filesystem is read-only, so Python cannot cache byte-code there: a
    module the image holds without its .pyc is compiled from source on every run
    (psycopg alone took ~0.5 s of each PostgreSQL run's start)."""
    loaded, compiled = compiled_on_import(
        ["podman", "run", "--rm", "--read-only", "--entrypoint", "python3", image],
        RUN_MODULES,
    )
    assert loaded > 500  # the imports ran
    ours = [path for path in compiled if "/site-packages/" in path]
    assert not ours, f"{len(ours)} modules compiled from source, e.g. {ours[:10]}"


def test_planted_files_are_ignored_by_git(build_context: Path) -> None:
    """In the same clone git sees every planted file as ignored: `git add -A` takes none."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
        cwd=build_context,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    ignored = {line[3:] for line in status if line.startswith("!! ")}
    untracked = {line[3:] for line in status if line.startswith("?? ")}
    assert set(PLANTED) <= ignored, sorted(set(PLANTED) - ignored)
    assert not untracked & set(PLANTED)


def test_test_docker_local_task_runs_the_demo_and_fails_when_the_run_fails(
    image: str, build_context: Path
) -> None:
    ok = invoke(
        "test-docker-local", "--tag", image, "--engine", "podman",
        "--test-execution-date", "20240115",
        cwd=build_context,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
    bad = invoke(
        "test-docker-local", "--tag", image, "--engine", "podman",
        "--test-execution-date", "20240115", "--transfer", "no_such_transfer",
        cwd=build_context,
    )  # fmt: skip
    assert bad.returncode == 2, bad.stdout[-3000:] + bad.stderr[-3000:]


def test_backfill_pod_command_runs_the_day_of_its_index(image: str) -> None:
    """The command and args an Indexed backfill Job gives its pods, run in the image."""
    spec = get_transfer("demo_orders", REPO / "gke_deploy" / "transfers.yaml", env="dev")
    spec = spec.model_copy(update={"config": "jobs/config/local.yaml"})
    job = build_backfill_job(spec, "20240101", "20240110")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    cmd = [
        "podman", "run", "--rm", "--read-only", "--tmpfs", "/tmp", "--tmpfs", "/app/.etl:rw,U",
        "-e", f"ETL_BACKFILL_START={env['ETL_BACKFILL_START']}", "-e", "JOB_COMPLETION_INDEX=4",
        "--entrypoint", container["command"][0], image, *container["command"][1:],
        *container["args"],
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "pipeline 20240105 demo_orders delta" in result.stderr
