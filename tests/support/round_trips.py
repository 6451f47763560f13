"""A config for counting the round trips of a one-day delta on PostgreSQL
(tests/integration/postgres/test_round_trips.py), with `load_jobs.SlowOrdersJob`."""

from __future__ import annotations

from pathlib import Path

import yaml

import tests.support.load_jobs  # noqa: F401  (registers slow_orders)


def delta_config(url: str, directory: Path) -> str:
    """A config whose ledger and warehouse are the database at ``url``."""
    config = directory / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "state": {"url": url},
                "logging": {"format": "text", "level": "WARNING"},
                "connections": {"warehouse": {"type": "sql", "url": url}},
            }
        )
    )
    return str(config)
