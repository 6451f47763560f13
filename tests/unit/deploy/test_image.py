"""Engine choice and the build/run command lines (the real build: tests/integration/container)."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_framework.deploy import image
from etl_framework.deploy.image import (
    build_command,
    parse_pip_config,
    pick_engine,
    push_commands,
    run_command,
    write_build_secrets,
)
from etl_framework.exceptions import ConfigError

PIP_LISTING = """\
:env:.cert='/etc/ssl/certs/ca-certificates.crt'
:env:.default-timeout='180'
global.extra-index-url='file:///opt/pypi/simple https://mirror.example/simple'
global.find-links='/opt/wheels'
global.index-url='https://proxy.example/pypi/simple'
global.trusted-host='proxy.example'
install.timeout='60'
"""


def test_pip_config_keeps_what_a_build_can_use() -> None:
    assert parse_pip_config(PIP_LISTING) == {
        "cert": "/etc/ssl/certs/ca-certificates.crt",
        "extra-index-url": "https://mirror.example/simple",
        "index-url": "https://proxy.example/pypi/simple",
        "trusted-host": "proxy.example",
        "timeout": "60",
    }


def test_build_secrets_point_pip_at_the_mounted_cert(tmp_path: Path) -> None:
    cert = tmp_path / "ca.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    secrets = write_build_secrets(
        tmp_path / "s", {"cert": str(cert), "index-url": "https://i/simple"}
    )
    conf = secrets.pip_conf.read_text()
    assert "cert = /run/secrets/pipcert" in conf and "index-url = https://i/simple" in conf
    assert secrets.args() == [
        "--secret",
        f"id=pipconf,src={secrets.pip_conf}",
        "--secret",
        f"id=pipcert,src={cert}",
    ]
    no_cert = write_build_secrets(tmp_path / "t", {"cert": str(tmp_path / "missing.pem")})
    assert no_cert.cert is None and "cert" not in no_cert.pip_conf.read_text()


def test_build_command_sets_labels_and_never_pulls_with_podman(tmp_path: Path) -> None:
    cmd = build_command(
        "podman", "localhost/etl-framework:t", version="1.0", revision="abc", pull=False
    )
    assert cmd[:4] == ["podman", "build", "-t", "localhost/etl-framework:t"]
    assert "VERSION=1.0" in cmd and "REVISION=abc" in cmd and "--pull=never" in cmd
    assert cmd[-1] == "."
    assert "--pull=false" in build_command("docker", "x", pull=False)


def test_build_command_overrides_the_base_image_only_by_digest() -> None:
    pinned = "docker.io/library/python@sha256:" + "a" * 64
    cmd = build_command("podman", "x", base_image=pinned)
    assert cmd[cmd.index(f"BASE_IMAGE={pinned}") - 1] == "--build-arg"
    with pytest.raises(ConfigError, match="not pinned by digest"):
        build_command("podman", "x", base_image="docker.io/library/python:3.11-slim")


def test_run_command_mirrors_the_pod() -> None:
    cmd = run_command("podman", "img", ["--help"], env={"ETL_ENV": "local"})
    assert cmd[:3] == ["podman", "run", "--rm"]
    assert "--read-only" in cmd and "/tmp" in cmd
    assert cmd[-2:] == ["img", "--help"] and "ETL_ENV=local" in cmd


def test_push_commands() -> None:
    assert push_commands("docker", "l:1", "r/x:1") == [
        ["docker", "tag", "l:1", "r/x:1"],
        ["docker", "push", "r/x:1"],
    ]


def test_pick_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(image, "_docker_daemon_answers", lambda: False)
    assert pick_engine() == "podman"
    monkeypatch.setattr(image, "_docker_daemon_answers", lambda: True)
    assert pick_engine() == "docker"
    monkeypatch.setenv(image.ENGINE_ENV, "podman")
    assert pick_engine() == "podman"
    with pytest.raises(ConfigError, match="unknown container engine"):
        pick_engine("rkt")
    monkeypatch.delenv(image.ENGINE_ENV)
    monkeypatch.setattr(image.shutil, "which", lambda name: None)
    monkeypatch.setattr(image, "_docker_daemon_answers", lambda: False)
    with pytest.raises(ConfigError, match="no container engine"):
        pick_engine()
