"""The BigQuery emulator (local-bigquery) as a subprocess from its own venv.

``script/setup/bigquery`` builds ``.venv-bigquery`` (Python 3.13, DuckDB 1.5.5 and its
extensions installed under ``.venv-bigquery/home``). The emulator is started with
``HOME`` there, a fresh ``--data-dir``, on free ports of 127.0.0.1, and with
``STORAGE_EMULATOR_HOST`` passed through so ``gs://`` loads read the GCS emulator.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.services.postgres import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SETUP_HINT = "run script/setup/bigquery (or script/test, which runs it)"
PROJECT = "local"
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class BigQueryEmulator:
    endpoint: str
    """``http://127.0.0.1:PORT``: the client's ``api_endpoint``."""
    project: str
    data_dir: Path
    log_file: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def emulator_venv() -> Path:
    return Path(os.environ.get("ETL_BIGQUERY_VENV", REPO_ROOT / ".venv-bigquery"))


@contextmanager
def bigquery_emulator_server(
    storage_emulator_host: str | None = None,
) -> Iterator[BigQueryEmulator]:
    """Start local-bigquery; yield its endpoint; stop it and remove its data."""
    venv = emulator_venv()
    executable = venv / "bin" / "local-bigquery"
    if not executable.exists():
        raise RuntimeError(f"BigQuery emulator not installed at {executable}: {SETUP_HINT}")
    root = Path(tempfile.mkdtemp(prefix="etl-bq-"))
    data_dir = root / "data"
    data_dir.mkdir()
    log_file = root / "emulator.log"
    port, grpc_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "BIGQUERY_"))}
    env["HOME"] = str(venv / "home")
    if storage_emulator_host:
        env["STORAGE_EMULATOR_HOST"] = storage_emulator_host
    else:
        env.pop("STORAGE_EMULATOR_HOST", None)
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [
                str(executable),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--grpc-port",
                str(grpc_port),
                "--project",
                PROJECT,
                "--data-dir",
                str(data_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    emulator = BigQueryEmulator(f"http://127.0.0.1:{port}", PROJECT, data_dir, log_file)
    try:
        _wait_ready(emulator, process)
        yield emulator
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(emulator: BigQueryEmulator, process: subprocess.Popen[bytes]) -> None:
    url = f"{emulator.endpoint}/bigquery/v2/projects/{emulator.project}/datasets"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"BigQuery emulator exited with {process.returncode} ({SETUP_HINT}):\n"
                f"{emulator.log_tail()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError(
        f"BigQuery emulator did not answer on {emulator.endpoint} within {START_TIMEOUT:.0f}s:\n"
        f"{emulator.log_tail()}"
    )
