"""Canonical keys of target tables, for "one writer per target table".

Two transfers (or two configs) that write the same table must get the same key
whatever the spelling of their connection, and the key is stored in the ledger and
shown in messages: it names the connection's identity, never its credentials.

- SQL: ``sql:<backend>://<host>:<port>/<database>/<schema>.<table>`` (default port and
  schema filled in), or ``sqlite:<absolute file path>/<table>``;
- BigQuery: ``bigquery:<project>.<dataset>.<table>``;
- any other connection type: ``<type>:<connection name>/<table>``.
"""

from __future__ import annotations

import os
from typing import Any

_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433}
_DEFAULT_SCHEMAS = {"postgresql": "public", "mssql": "dbo"}


def target_key(connection_name: str, connection: Any, table: str) -> str:
    """The canonical key of ``table`` in the connection configured as ``connection``."""
    kind = getattr(connection, "type", "")
    if kind == "sql":
        return _sql_key(connection.url.get_secret_value(), table)
    if kind == "bigquery":
        return _bigquery_key(connection.project, connection.dataset, table)
    return f"{kind}:{connection_name}/{table}"


def _sql_key(url: str, table: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    backend = parsed.get_backend_name()
    table = table.lower()  # unquoted identifiers: PostgreSQL folds, SQLite ignores case
    if backend == "sqlite":
        database = parsed.database or ":memory:"
        path = database if database == ":memory:" else os.path.realpath(database)
        return f"sqlite:{path}/{table}"
    if "." not in table and backend in _DEFAULT_SCHEMAS:
        table = f"{_DEFAULT_SCHEMAS[backend]}.{table}"
    host = parsed.host or parsed.query.get("host") or "localhost"
    port = parsed.port or _DEFAULT_PORTS.get(backend) or ""
    return f"sql:{backend}://{str(host).lower()}:{port}/{parsed.database or ''}/{table}"


def _bigquery_key(project: str | None, dataset: str | None, table: str) -> str:
    parts = table.split(".")
    if len(parts) == 3:
        return f"bigquery:{table}"
    if len(parts) == 2:
        return f"bigquery:{project or ''}.{table}"
    return f"bigquery:{project or ''}.{dataset or ''}.{table}"
