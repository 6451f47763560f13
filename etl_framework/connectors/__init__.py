"""The concrete connectors, one module each, imported only when a config names them.

=============  ===============================  ======================================
``type``       class                            pip extra
=============  ===============================  ======================================
``sql``        `sql.SqlConnector`               ``postgres`` (SQLite needs none)
``http``       `http.HttpConnector`             ``http``
``gcs``        `gcs.GcsConnector`               ``gcs``
``bigquery``   `bigquery.BigQueryConnector`     ``bigquery``
=============  ===============================  ======================================

The contract they implement (`Connector`, `ConnectorConfig`, `ConnectionRef`) and the
lazy registry that maps a config ``type`` to its class (`connector_class`,
`build_connector`) are in `etl_framework.connections`.
"""
