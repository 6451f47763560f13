"""One write-strategy contract for every backend (issue 17 item 3).

`StrategyKind` names what a publish does; `WriteStrategyContract` is the lifecycle both
`etl_framework.load.sql.base.WriteStrategy` (SQL) and
`etl_framework.load.bigquery.base.BigQueryWriteStrategy` implement; `strategy_class`
is the one registry mapping (backend, kind) to the implementing class.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

Backend = Literal["sql", "bigquery"]

RUN_TAG_LENGTH = 8
"""Characters of the run id in staging names and labels (every backend)."""


def run_tag(run_id: str) -> str:
    """8 lowercase alphanumerics identifying the run (a hash when the id has too few)."""
    tag = re.sub(r"[^a-z0-9]", "", run_id.lower())[:RUN_TAG_LENGTH]
    if len(tag) < RUN_TAG_LENGTH:
        tag = hashlib.sha1(run_id.encode()).hexdigest()[:RUN_TAG_LENGTH]
    return tag


class StrategyKind(StrEnum):
    """What the publish does to the target."""

    REPLACE_TABLE = "replace_table"
    REPLACE_WINDOW = "replace_window"
    MERGE = "merge"
    APPEND = "append"


class PublishOutcome(Protocol):
    """What every publish result reports (`PublishResult`, `BigQueryPublishResult`)."""

    @property
    def inserted(self) -> int: ...

    @property
    def deleted(self) -> int: ...


@runtime_checkable
class WriteStrategyContract(Protocol):
    """The lifecycle every write strategy implements, in call order."""

    name: str
    full_refresh: bool

    def claim(self) -> list[str]: ...

    def drop_stale_staging(self) -> list[str]: ...

    def prepare(self) -> Any: ...

    def load(self, rows: Iterable[Sequence[Any]]) -> int: ...

    def publish(self) -> PublishOutcome: ...

    def drop_staging(self) -> None: ...

    def write(self, rows: Iterable[Sequence[Any]]) -> PublishOutcome: ...


_REGISTRY: dict[tuple[Backend, StrategyKind], str] = {
    (
        "sql",
        StrategyKind.REPLACE_TABLE,
    ): "etl_framework.load.sql.replace_table:ReplaceTableStrategy",
    (
        "sql",
        StrategyKind.REPLACE_WINDOW,
    ): "etl_framework.load.sql.replace_window:ReplaceWindowStrategy",
    ("sql", StrategyKind.MERGE): "etl_framework.load.sql.merge:MergeStrategy",
    ("sql", StrategyKind.APPEND): "etl_framework.load.sql.append:AppendStrategy",
    ("bigquery", StrategyKind.REPLACE_TABLE): (
        "etl_framework.load.bigquery.replace_table:BigQueryReplaceTableStrategy"
    ),
    ("bigquery", StrategyKind.REPLACE_WINDOW): (
        "etl_framework.load.bigquery.replace_window:BigQueryReplaceWindowStrategy"
    ),
    ("bigquery", StrategyKind.MERGE): "etl_framework.load.bigquery.merge:BigQueryMergeStrategy",
}


def strategy_class(backend: Backend, kind: StrategyKind | str) -> type[Any]:
    """The class implementing ``kind`` on ``backend`` (imported lazily: no SDK unless used)."""
    kind = StrategyKind(kind)
    try:
        ref = _REGISTRY[(backend, kind)]
    except KeyError:
        raise ValueError(f"no {kind.value} write strategy for backend {backend!r}") from None
    module, _, attr = ref.partition(":")
    cls: type[Any] = getattr(importlib.import_module(module), attr)
    return cls


__all__ = [
    "RUN_TAG_LENGTH",
    "Backend",
    "PublishOutcome",
    "StrategyKind",
    "WriteStrategyContract",
    "run_tag",
    "strategy_class",
]
