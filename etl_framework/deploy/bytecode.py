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

import importlib
import py_compile
import sys
import sysconfig
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


def compiled_on_import(names: tuple[str, ...], prefix: Path) -> list[Path]:
    """Every source file under ``prefix`` that importing ``names`` loads, including
    modules an import tried and dropped (``urllib3.contrib.socks`` without PySocks),
    which a pod compiles just the same: seen through the ``compile`` audit event, and
    in ``sys.modules`` for what was loaded before the hook."""
    found: set[Path] = set()

    def hook(event: str, args: tuple) -> None:
        if event == "compile" and isinstance(args[1], str) and args[1].endswith(".py"):
            path = Path(args[1])
            if path.is_relative_to(prefix):
                found.add(path)

    sys.addaudithook(hook)  # cannot be removed: this runs as its own process
    for name in names:
        importlib.import_module(name)
    # and what was imported before the hook (this module's own package imports pydantic)
    for module in list(sys.modules.values()):
        origin = getattr(getattr(module, "__spec__", None), "origin", None)
        if origin and origin.endswith(".py") and Path(origin).is_relative_to(prefix):
            found.add(Path(origin))
    return sorted(found)


def main(argv: list[str]) -> int:
    prefix = Path(argv[0]) if argv else Path(sysconfig.get_paths()["purelib"])
    sources = compiled_on_import(RUN_MODULES, prefix.resolve())
    for source in sources:
        py_compile.compile(str(source), doraise=True)
    print(f"compiled {len(sources)} modules under {prefix}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
