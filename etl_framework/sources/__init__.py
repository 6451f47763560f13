"""Sources a transfer reads records from.

- `etl_framework.sources.sql`: `query_records`, a streaming SQL query source.
- `etl_framework.sources.files`: `csv_records` / `ndjson_records`, local or ``gs://``,
  optionally gzip.
- `etl_framework.sources.http`: HTTP APIs (see its module docstring).
"""
