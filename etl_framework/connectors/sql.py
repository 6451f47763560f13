"""SQL databases through SQLAlchemy 2: PostgreSQL (psycopg 3) and SQLite.

The connector owns one engine. Write strategies (`etl_framework.load`) use its
dialect fast paths; jobs may also use ``connector.engine`` directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, SecretStr

from etl_framework.connections import Connector, ConnectorConfig
from etl_framework.db import check_database_url, make_engine
from etl_framework.exceptions import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


class SqlConfig(ConnectorConfig):
    """``type: sql``: a SQLAlchemy URL, e.g. ``postgresql+psycopg://u@host/db``."""

    type: Literal["sql"] = "sql"
    url: Annotated[SecretStr, AfterValidator(check_database_url)]
    """The SQLAlchemy URL. A secret: it may carry a password."""
    connect_args: dict[str, Any] = Field(default_factory=dict)
    echo: bool = False


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
