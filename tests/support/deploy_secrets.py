"""The shipped configs and the secrets planted for them, shared by the deploy secret
tests (tests/unit/deploy/test_secrets.py) and the Airflow DAG tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from etl_framework.deploy.spec import config_secret_names

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CONFIGS = sorted((REPO / "jobs" / "config").glob("*.yaml"))
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")
PLANTED = {
    "WAREHOUSE_URL": 'postgresql+psycopg://etl:Pl4nted-W4rehouse"pw@db/etl',
    "STATE_DB_URL": "postgresql+psycopg://ledger:Pl4nted-St4te/pw@db/state",
    "HAWK_KEY": "pl4nted-hawk-key\nsecond-line-of-the-key",
    "HAWK_ID": "pl4nted-hawk-id-value",
    "DATAHUB_BASE_URL": "https://svc:Pl4nted-B4se-pw@datahub.example",
    "GCP_PROJECT": "pl4nted-project-id",
    "EXPORT_BUCKET": "pl4nted-export-bucket",
}
"""A planted value for every ``${VAR}`` the shipped configs read."""


def referenced_names(config: Path) -> set[str]:
    return set(REFERENCE.findall(config.read_text()))


def transfer_name(config: Path) -> str:
    # the first transfer of the file (local.yaml also configures demo_completed_orders)
    name = next(iter(yaml.safe_load(config.read_text())["transfers"]))
    return str(name)


def transfers_file(directory: Path, env_for: Any) -> Path:
    """A transfers file with one transfer per shipped config, ``env_for(config)`` its env."""
    entries = [
        {
            "name": transfer_name(config),
            "mode": "delta",
            "config": str(config),
            "start_date": "2024-01-01",
            "env": env_for(config),
        }
        for config in SHIPPED_CONFIGS
    ]
    path = directory / "transfers.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "defaults": {"image": "repo/etl", "namespace": "etl", "env": {"ETL_ENV": "prod"}},
                "transfers": entries,
            }
        )
    )
    return path


def as_references(config: Path) -> dict[str, str]:
    """What a correct transfers file says: secrets as references, the rest as values."""
    marked = config_secret_names(config)
    return {
        name: (
            f"secretKeyRef:etl-secrets/{name.lower().replace('_', '-')}"
            if name in marked
            else {"GCP_PROJECT": "my-project", "EXPORT_BUCKET": "exports"}.get(name, "plain")
        )
        for name in referenced_names(config)
        if name in marked or name in ("GCP_PROJECT", "EXPORT_BUCKET")
    }
