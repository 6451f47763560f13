"""The run ledger and leases (SQLite by default, PostgreSQL in production)."""

from etl_framework.state.store import Heartbeat, LeaseGrant, RunLedger, RunRecord, RunStore

__all__ = ["Heartbeat", "LeaseGrant", "RunLedger", "RunRecord", "RunStore"]
