"""The connector contract: named in config, built lazily, closed at the end of a run.

A connector type is a `Connector` subclass with a pydantic ``config_model``
(a `ConnectorConfig` subclass whose ``type`` field names it). Connector modules
import their heavy SDK only inside methods, so validating a config never pulls in
google-cloud or psycopg.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict


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
