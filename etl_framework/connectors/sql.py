"""SQL databases through SQLAlchemy 2: PostgreSQL (psycopg 3) and SQLite.

The connector owns one engine. Write strategies (`etl_framework.load`) use its
dialect fast paths; jobs may also use ``connector.engine`` directly.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, SecretStr

from etl_framework import redaction
from etl_framework.connectors.base import Connector, ConnectorConfig
from etl_framework.exceptions import ConfigError, ETLError, TransientError
from etl_framework.failures import error_of_kind, failure_kind

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

DEFAULT_POOL_PRE_PING = True


def check_database_url(url: SecretStr) -> SecretStr:
    """A pydantic validator: ``url`` parses as a SQLAlchemy URL (value never echoed)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url.get_secret_value())
    except (ArgumentError, ValueError):
        # The value may hold a password: say what is wrong, not what it is.
        raise ValueError("not a SQLAlchemy database URL (dialect+driver://...)") from None
    return url


class SqlConfig(ConnectorConfig):
    """``type: sql``: a SQLAlchemy URL, e.g. ``postgresql+psycopg://u@host/db``."""

    type: Literal["sql"] = "sql"
    url: Annotated[SecretStr, AfterValidator(check_database_url)]
    """The SQLAlchemy URL. A secret: it may carry a password."""
    connect_args: dict[str, Any] = Field(default_factory=dict)
    echo: bool = False


# Refusals that retrying cannot fix, as libpq words them at connect time (no SQLSTATE).
_CONNECT_REFUSED = re.compile(
    r"FATAL:\s+(password authentication failed|database \"[^\"]*\" does not exist|"
    r"role \"[^\"]*\" does not exist|no pg_hba\.conf entry|permission denied)"
)


def database_error(exc: BaseException, what: str, *, refused: bool = False) -> ETLError | None:
    """Our error for a database failure of ``what`` (e.g. "run ledger"), or None.

    Environment failures come first, whatever the exception class (see
    `etl_framework.failures`): out of space (SQLite "database or disk is full",
    PostgreSQL 53100) is exit 5, read-only (SQLite read-only file, PostgreSQL 25006)
    and permission denied (42501) are refusals, exit 3. Otherwise a SQLAlchemy
    ``OperationalError`` (server unreachable, connection lost, deadlock, serialization
    failure) is transient (exit 75) unless retrying cannot help: authentication, a
    missing database or role (SQLSTATE 28/3D) are configuration errors (exit 3).
    ``refused=True`` treats the error as a refusal whatever it is. Anything else is
    None: the caller's own error stands.
    """
    import sqlite3

    from sqlalchemy.exc import DBAPIError, OperationalError

    orig = getattr(exc, "orig", None) or exc
    if isinstance(exc, DBAPIError) or isinstance(orig, sqlite3.Error) or hasattr(orig, "sqlstate"):
        kind = failure_kind(orig)
        if kind is not None:
            return error_of_kind(kind, what, orig)
    if not refused and not isinstance(exc, OperationalError):
        return None
    text = str(orig).strip()
    lines = redaction.redact(text).splitlines()  # redacted whole: no line of a secret left
    detail = " ".join(lines[0].split()) if lines else ""
    sqlstate = str(getattr(orig, "sqlstate", "") or "")
    if refused or sqlstate[:2] in ("28", "3D") or _CONNECT_REFUSED.search(detail):
        return ConfigError(f"{what} refused: {detail}")
    return TransientError(f"{what} unreachable: {detail}")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with our defaults; SQLite files get their parent directory created."""
    from pathlib import Path

    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid database URL: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {}).setdefault("timeout", 30)
    try:
        engine = create_engine(parsed, pool_pre_ping=DEFAULT_POOL_PRE_PING, **kwargs)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        hint = (
            " (pip install 'etl_framework[postgres]')"
            if parsed.get_backend_name() == "postgresql"
            else ""
        )
        raise ConfigError(
            f"the database driver for {parsed.drivername} is not available: {exc}{hint}"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        # pysqlite's own transaction handling breaks BEGIN IMMEDIATE / DDL in transactions.
        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute("PRAGMA busy_timeout=30000")

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")

    return engine


# Capabilities by dialect name; other SQLAlchemy dialects get BASE_CAPABILITIES.
BASE_CAPABILITIES = frozenset({"transactions"})
DIALECT_CAPABILITIES: dict[str, frozenset[str]] = {
    # merge = INSERT ... ON CONFLICT; copy = psycopg 3 COPY FROM STDIN
    "postgresql": frozenset({"transactions", "merge", "copy"}),
    "sqlite": frozenset({"transactions", "merge"}),
}


class SqlConnector(Connector):
    """One SQLAlchemy engine for PostgreSQL or SQLite (other dialects: generic paths).

    `capabilities` depend on the dialect of the configured URL (see
    `DIALECT_CAPABILITIES`); write strategies check them before running.
    """

    type_name = "sql"
    config_model = SqlConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"transactions", "merge"})
    """Class-level default; `supports` answers for the actual dialect."""

    config: SqlConfig

    def __init__(self, name: str, config: ConnectorConfig) -> None:
        super().__init__(name, config)
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self.open()
        assert self._engine is not None
        return self._engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def supports(self, capability: str) -> bool:
        """Whether this connection's dialect offers ``capability``."""
        found = DIALECT_CAPABILITIES.get(self.dialect, BASE_CAPABILITIES)
        if capability == "copy" and self.engine.dialect.driver != "psycopg":
            return False
        return capability in found

    def _open(self) -> None:
        try:
            self._engine = make_engine(
                self.config.url.get_secret_value(),
                echo=self.config.echo,
                **(
                    {"connect_args": dict(self.config.connect_args)}
                    if self.config.connect_args
                    else {}
                ),
            )
        except ConfigError as exc:
            raise ConfigError(f"connection {self.name!r}: {exc}") from None

    def _close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
