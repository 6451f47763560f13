"""The run ledger and leases (SQLite by default, PostgreSQL in production).

Names resolve lazily (PEP 562): importing `etl_framework.state.handle` (the
`NullLedger` of a strategy built without a ledger) does not import the ledger's
SQLAlchemy ORM models.
"""

from etl_framework._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {name: ".store" for name in ("Heartbeat", "LeaseGrant", "RunLedger", "RunRecord", "RunStore")},
)
