"""Sources a transfer reads records from (HTTP APIs, ...)."""
