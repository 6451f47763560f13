"""The transfer of ``bench/fixed_cost.py``: a one-day delta of 5,000 rows.

Imported by the registry inside ``pipeline`` (``ETL_JOBS_MODULES=fixed_cost_job``), as
a deployed job module is; it notes when its source hands out its first and last row.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, ClassVar

from fixed_cost import DAY, ROWS, TABLE
from load_postgres import generate, mapping

from etl_framework import register
from etl_framework.transfers import TableTransferJob

times: dict[str, float] = {}


@register("fc_delta")
class FixedCostJob(TableTransferJob):
    target_table = TABLE
    window_column = "created_at"
    index_columns: ClassVar[tuple[str, ...]] = ()
    mapping = mapping()

    def source(self) -> Iterator[dict[str, Any]]:
        first = True
        for record in generate(ROWS, day=DAY, version=1):
            if first:
                times["first_row"] = time.time()
                first = False
            yield record
        times["last_row"] = time.time()
