"""Byte-code for the job image: compile what a run imports, at build time.

A pod's root filesystem is read-only, so Python cannot write ``__pycache__`` there: a
module the image holds without its ``.pyc`` is compiled from source at every run's
start (psycopg alone took ~0.5 s, the cloud SDKs ~1 s). Compiling every installed
package costs ~15 MB of image (pygments, pyasn1_modules' hundred RFCs, ...) that no run
loads, so the Dockerfile compiles the packages a run uses lazily in full and, with
``python -m etl_framework.deploy.bytecode``, every module that importing
``RUN_MODULES`` loads. ``tests/integration/container`` imports the same modules in a
read-only container and fails on any of them compiled from source.
"""

from __future__ import annotations

import py_compile
import subprocess
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from pathlib import Path

# what the transfers of every kind import: the CLI and runner, each connector, source,
# write strategy and job base, the drivers and SDKs they load, the live progress line
# of a terminal, and the demo's jobs
RUN_MODULES = (
    "etl_framework.cli",
    "etl_framework.runner",
    "etl_framework.state.store",
    "etl_framework.connectors.sql",
    "etl_framework.connectors.http",
    "etl_framework.connectors.gcs",
    "etl_framework.connectors.bigquery",
    "etl_framework.sources.http",
    "etl_framework.sources.sql",
    "etl_framework.sources.bigquery",
    "etl_framework.load.sql.replace_table",
    "etl_framework.load.sql.replace_window",
    "etl_framework.load.sql.merge",
    "etl_framework.load.bigquery.merge",
    "etl_framework.load.bigquery.replace_window",
    "etl_framework.transfers.table",
    "etl_framework.transfers.http_source",
    "etl_framework.transfers.sql_source",
    "etl_framework.transfers.bigquery",
    "sqlalchemy.dialects.postgresql.psycopg",
    "psycopg",
    "psycopg.types.json",
    "requests.adapters",
    "mohawk",
    "mohawk.exc",
    "google.auth",
    "google.auth.aws",
    "google.auth.identity_pool",
    "google.auth.pluggable",
    "google.oauth2.credentials",
    "google.oauth2.service_account",
    "google.api_core.exceptions",
    "google.cloud.bigquery",
    "google.cloud.storage",
    "google_crc32c",
    "pyarrow",
    "pyarrow.parquet",
    "rich.console",
    "rich.live",
    "rich.text",
    "jobs.demo_orders",
)


# run as ``python -c REPORT_COMPILED NAME...``: imports the modules, then prints how
# many modules are loaded and the path of each source Python had to compile (the
# ``compile`` audit event, hooked before any import: modules an import tried and
# dropped, like ``urllib3.contrib.socks`` without PySocks, count too)
REPORT_COMPILED = """
import importlib, sys
compiled = []
def hook(event, args):
    if event == "compile" and isinstance(args[1], str) and args[1].endswith(".py"):
        compiled.append(args[1])
sys.addaudithook(hook)
for name in sys.argv[1:]:
    importlib.import_module(name)
print(len(sys.modules))
print("\\n".join(compiled))
"""


def compiled_on_import(
    python: Sequence[str], names: Sequence[str], env: Mapping[str, str] | None = None
) -> tuple[int, list[str]]:
    """How many modules importing ``names`` loads in a fresh ``python`` (a command:
    ``[sys.executable]``, or ``podman run ... python3``) and each source it compiled."""
    result = subprocess.run(
        [*python, "-c", REPORT_COMPILED, *names],
        stdout=subprocess.PIPE, text=True, env=env, timeout=600, check=True,
    )  # fmt: skip
    loaded, *compiled = result.stdout.splitlines()
    return int(loaded), compiled


def main(argv: list[str]) -> int:
    prefix = Path(argv[0] if argv else sysconfig.get_paths()["purelib"]).resolve()
    _, compiled = compiled_on_import([sys.executable], RUN_MODULES)
    sources = [path for path in compiled if Path(path).is_relative_to(prefix)]
    for source in sources:
        py_compile.compile(source, doraise=True)
    print(f"compiled {len(sources)} modules under {prefix}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
