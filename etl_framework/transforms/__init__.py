"""Transforms: views and derived tables over the tables transfers load.

- `SqlTransformJob`: PostgreSQL and SQLite;
- `BigQueryTransformJob`: BigQuery (needs the ``bigquery`` extra to run);
- `Transform`: the declarations both share; templates in
  `etl_framework.transforms.templates` (needs the ``transforms`` extra: Jinja2).
"""

from etl_framework.transforms.base import ALL_COLUMNS, Transform, TransformSettings
from etl_framework.transforms.bigquery import BigQueryTransformJob, BigQueryTransformOptions
from etl_framework.transforms.sql import SqlTransformJob, SqlTransformOptions

__all__ = [
    "ALL_COLUMNS",
    "BigQueryTransformJob",
    "BigQueryTransformOptions",
    "SqlTransformJob",
    "SqlTransformOptions",
    "Transform",
    "TransformSettings",
]
