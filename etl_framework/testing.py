"""Test kit for job authors: run a transfer against a temporary SQLite warehouse.

Example (pytest)::

    from etl_framework.testing import TransferHarness

    def test_my_transfer(tmp_path):
        harness = TransferHarness(tmp_path, transfers={"my_transfer": {"table": "t"}})
        result = harness.run("my_transfer", "20240115", "truncate")
        assert result.succeeded
        assert harness.query("SELECT count(*) FROM t") == [(42,)]

The harness writes a real config file (connections ``warehouse`` -> SQLite, ledger
-> SQLite) and runs the transfer through the same runner as ``pipeline``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from etl_framework import registry
from etl_framework.job import ETLJob
from etl_framework.runner import RunSummary, run_transfer
from etl_framework.window import WriteMode

WAREHOUSE_CONNECTION = "warehouse"


class TransferHarness:
    """A temporary warehouse + ledger and a config file pointing at them."""

    def __init__(
        self,
        directory: str | Path,
        *,
        transfers: Mapping[str, Mapping[str, Any]] | None = None,
        connections: Mapping[str, Mapping[str, Any]] | None = None,
        logging_format: str = "text",
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.warehouse_url = f"sqlite:///{self.directory / 'warehouse.db'}"
        self.state_url = f"sqlite:///{self.directory / 'state.db'}"
        config = {
            "state": {"url": self.state_url},
            "logging": {"format": logging_format, "progress": False},
            "connections": {
                WAREHOUSE_CONNECTION: {"type": "sql", "url": self.warehouse_url},
                **{k: dict(v) for k, v in (connections or {}).items()},
            },
            "transfers": {k: dict(v) for k, v in (transfers or {}).items()},
        }
        self.config_path = self.directory / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def run(
        self,
        transfer: str | type[ETLJob[Any]],
        execution_date: str | dt.date,
        mode: str | WriteMode = WriteMode.TRUNCATE,
        delta_start_date: str | dt.date | None = None,
    ) -> RunSummary:
        """Run like ``pipeline`` would; a job class is registered for the run if needed."""
        if isinstance(transfer, type):
            if not transfer.transfer_name:
                raise ValueError(f"{transfer.__name__} is not registered: use @register(name)")
            name = transfer.transfer_name
            try:
                registry.get(name)
            except KeyError:
                registry.register(name)(transfer)
        else:
            name = transfer
        return run_transfer(name, execution_date, mode, str(self.config_path), delta_start_date)

    def query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Rows of a query against the temporary warehouse."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.warehouse_url)
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(sa.text(sql), params)]
        finally:
            engine.dispose()

    def runs(self) -> list[Any]:
        """The ledger's records, newest first."""
        from etl_framework.state import RunStore

        store = RunStore(self.state_url)
        try:
            return store.runs()
        finally:
            store.close()
