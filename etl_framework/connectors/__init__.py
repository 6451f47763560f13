"""Connector types by config ``type``, imported lazily.

The table maps a ``type`` to ``module:Class`` so that `pipeline --help` and config
validation never import a cloud SDK. A missing optional dependency is reported
with the pip extra that provides it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from etl_framework.connectors.base import Connector, ConnectorConfig, ConnectorState
from etl_framework.exceptions import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

CONNECTOR_TYPES: dict[str, tuple[str, str]] = {
    # type: ("module:Class", pip extra that provides its dependencies)
    "sql": ("etl_framework.connectors.sql:SqlConnector", "postgres"),
    "http": ("etl_framework.connectors.http:HttpConnector", "http"),
    "gcs": ("etl_framework.connectors.gcs:GcsConnector", "gcs"),
    "bigquery": ("etl_framework.connectors.bigquery:BigQueryConnector", "bigquery"),
}


def connector_class(type_name: str) -> type[Connector]:
    """The connector class for a config ``type``; ConfigError if unknown."""
    try:
        target, _extra = CONNECTOR_TYPES[type_name]
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
    "Connector",
    "ConnectorConfig",
    "ConnectorState",
    "build_connector",
    "connector_class",
]
