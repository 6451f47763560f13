"""The run ledger and leases (SQLite by default, PostgreSQL in production).

Names resolve lazily (PEP 562): importing `etl_framework.state.handle` (the
`NullLedger` of a strategy built without a ledger) does not import the ledger's
SQLAlchemy ORM models.
"""

from typing import TYPE_CHECKING

from etl_framework._lazy import lazy_exports

if TYPE_CHECKING:
    from etl_framework.state.store import Heartbeat as Heartbeat
    from etl_framework.state.store import LeaseGrant as LeaseGrant
    from etl_framework.state.store import RunLedger as RunLedger
    from etl_framework.state.store import RunRecord as RunRecord
    from etl_framework.state.store import RunStore as RunStore

__all__, __getattr__ = lazy_exports(
    __name__,
    {name: ".store" for name in ("Heartbeat", "LeaseGrant", "RunLedger", "RunRecord", "RunStore")},
)
