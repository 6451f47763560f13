"""Real services the integration tests run against (started by the tests themselves)."""
