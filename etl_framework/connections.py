"""Connections: the connector contract and the lazy registry of connector types.

A run's ``connections.<name>`` entries are built into connectors: named in config,
built lazily, closed at the end of a run. A connector type is a `Connector` subclass
with a pydantic ``config_model`` (a `ConnectorConfig` subclass whose ``type`` field
names it); the concrete ones live in `etl_framework.connectors` (sql, http, gcs,
bigquery).

`CONNECTOR_TYPES` maps a ``type`` to ``module:Class`` so that the core (config
validation, the run context, the deploy spec) and ``pipeline --help`` never import a
connector module or a cloud SDK: `connector_class` imports the one a config names,
when it is needed. Connector modules import their heavy SDK only inside methods.
"""

from __future__ import annotations

import enum
import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict

from etl_framework.exceptions import ConfigError


class ConnectorConfig(BaseModel):
    """Base of every connector's config. ``type`` selects the connector class."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str


@dataclass(frozen=True)
class ConnectionRef:
    """Field metadata: the field names a ``connections.<name>`` entry of type ``kind``.

    Declare it on any options field that names a connection and the framework checks,
    before the run starts, that the connection exists and has that type::

        connection: Annotated[str, ConnectionRef("http")]
        gcs_connection: Annotated[str | None, ConnectionRef("gcs")] = None
    """

    kind: str


class ConnectorState(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class Connector(ABC):
    """A connection to one system, with an explicit lifecycle."""

    type_name: ClassVar[str]
    """The ``type`` value in config that selects this class."""
    config_model: ClassVar[type[ConnectorConfig]]
    """The pydantic model that validates this connector's config."""
    capabilities: ClassVar[frozenset[str]] = frozenset()
    """What write strategies may rely on (e.g. ``"merge"``, ``"copy"``, ``"transactions"``)."""

    def __init__(self, name: str, config: ConnectorConfig) -> None:
        self.name = name
        self.config = config
        self.state = ConnectorState.UNOPENED

    def open(self) -> Self:
        """Open the connection once; later calls are no-ops."""
        if self.state is ConnectorState.CLOSED:
            raise RuntimeError(f"connector {self.name!r} is closed")
        if self.state is ConnectorState.UNOPENED:
            self._open()
            self.state = ConnectorState.OPEN
        return self

    def close(self) -> None:
        """Release resources; safe to call more than once."""
        if self.state is ConnectorState.OPEN:
            self._close()
        self.state = ConnectorState.CLOSED

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    @abstractmethod
    def _open(self) -> None:
        """Create clients/engines. Called once."""

    @abstractmethod
    def _close(self) -> None:
        """Dispose of clients/engines. Called once, only after a successful open."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.state.value}>"


CONNECTOR_TYPES: dict[str, str] = {
    "sql": "etl_framework.connectors.sql:SqlConnector",
    "http": "etl_framework.connectors.http:HttpConnector",
    "gcs": "etl_framework.connectors.gcs:GcsConnector",
    "bigquery": "etl_framework.connectors.bigquery:BigQueryConnector",
}
"""Connection ``type`` -> ``module:Class``. A connector whose SDK is missing names its pip
extra when it opens (`etl_framework.exceptions.missing_extra_error`)."""


def connector_class(type_name: str) -> type[Connector]:
    """The connector class for a config ``type``; ConfigError if unknown."""
    try:
        target = CONNECTOR_TYPES[type_name]
    except KeyError:
        known = ", ".join(sorted(CONNECTOR_TYPES))
        raise ConfigError(
            f"unknown connection type {type_name!r}: known types are {known}"
        ) from None
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(module_name)
    cls: type[Connector] = getattr(module, class_name)
    return cls


def build_connector(name: str, raw: Mapping[str, object] | ConnectorConfig) -> Connector:
    """Instantiate (not open) the connector named ``name`` from its config."""
    if isinstance(raw, ConnectorConfig):
        config = raw
    else:
        config = connector_class(str(raw.get("type"))).config_model.model_validate(raw)
    return connector_class(config.type)(name, config)


__all__ = [
    "CONNECTOR_TYPES",
    "ConnectionRef",
    "Connector",
    "ConnectorConfig",
    "ConnectorState",
    "build_connector",
    "connector_class",
]
