"""BigQuery cost of a ledger step as one readable line (``etlctl runs --steps``, the
report's run pages); the figures come from `etl_framework.connectors.bigquery_cost`."""

from __future__ import annotations


def format_bytes(value: int | None) -> str:
    """``0 B``, ``812 B``, ``1.2 MiB``, ...; ``n/a`` for unknown."""
    if value is None:
        return "n/a"
    if value < 1024:
        return f"{value} B"
    amount = float(value)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        amount /= 1024
        if amount < 1024 or unit == "TiB":
            break
    return f"{amount:.1f} {unit}"


def describe_cost(
    jobs: int,
    load_jobs: int | None,
    bytes_processed: int | None,
    bytes_billed: int | None,
    slot_ms: int | None,
) -> str:
    """``3 jobs (1 load) processed 1.2 MiB billed 10.0 MiB slot-ms 812``: one line for
    ``etlctl runs --steps`` and the report's run pages; ``n/a``: no job reported it."""
    slots = "n/a" if slot_ms is None else f"{slot_ms:,}"
    return (
        f"{jobs} job{'' if jobs == 1 else 's'} ({load_jobs or 0} load)"
        f" processed {format_bytes(bytes_processed)} billed {format_bytes(bytes_billed)}"
        f" slot-ms {slots}"
    )
