"""Alembic environment for the run ledger (shipped inside the package)."""

from __future__ import annotations

from alembic import context

import etl_framework.executions.models  # noqa: F401  # its tables are on Base.metadata
from etl_framework.state.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection, target_metadata=Base.metadata, version_table="etl_alembic_version"
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Two first runs on a new database must not both create the tables.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
    context.run_migrations()
