"""Fixtures of the HTTP integration tests: the local Hawk API and connectors to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from etl_framework.connectors.http import HttpConfig, HttpConnector
from tests.support.hawk_server import HawkTestServer, connection_config, make_records


@pytest.fixture
def hawk_api() -> Iterator[Callable[..., HawkTestServer]]:
    """Start servers: ``hawk_api(records=250, page_size=100, **options)``."""
    servers: list[HawkTestServer] = []

    def start(records: int = 250, **options: Any) -> HawkTestServer:
        options.setdefault("page_size", 100)
        server = HawkTestServer(make_records(records), **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def connect() -> Iterator[Callable[..., HttpConnector]]:
    """Open connectors to a server: ``connect(server, key=..., retry={...})``."""
    opened: list[HttpConnector] = []

    def make(server: HawkTestServer, **kwargs: Any) -> HttpConnector:
        config = HttpConfig.model_validate(connection_config(server, **kwargs))
        connector = HttpConnector("api", config).open()
        opened.append(connector)
        return connector

    yield make
    for connector in opened:
        connector.close()
