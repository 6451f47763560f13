"""`BigQueryTransformJob`: a transform over a BigQuery table.

``view``: ``CREATE OR REPLACE VIEW`` (one statement, atomic); ``table``: the SELECT's
rows published by `BigQueryTransferJob`'s write strategies. See
`etl_framework.transforms.sql` for an example; only the base class differs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel
from typing_extensions import TypeVar

from etl_framework.exceptions import RegistryError
from etl_framework.transfers.bigquery import BigQueryTransferJob, BigQueryTransferOptions
from etl_framework.transforms.base import Transform, TransformSettings

if TYPE_CHECKING:
    from etl_framework.config import FrameworkConfig


class BigQueryTransformOptions(BigQueryTransferOptions, TransformSettings):
    """``transfers.<name>`` options of a `BigQueryTransformJob`."""


BigQueryTransformOptionsT = TypeVar(
    "BigQueryTransformOptionsT", bound=BigQueryTransformOptions, default=BigQueryTransformOptions
)


def quote_alias(alias: str) -> str:
    if "`" in alias or "\\" in alias or "\n" in alias:
        raise RegistryError(f"BigQuery column alias {alias!r} holds a backtick or backslash")
    return f"`{alias}`"


class BigQueryTransformJob(Transform, BigQueryTransferJob[BigQueryTransformOptionsT]):
    """A view or table derived from an upstream transfer's BigQuery table."""

    options_model: ClassVar[type[BaseModel]] = BigQueryTransformOptions

    @classmethod
    def target_dialect(cls, config: FrameworkConfig, options: Any) -> str:
        return "bigquery"

    def _select(self) -> str:
        connector = self.connector
        source = connector.table_ref(self.source_table_name(self.context.config, self.options))
        return self.render_select("bigquery", quote_alias, source.sql)

    def replace_view(self) -> None:
        connector = self.connector
        target = connector.table_ref(self.table)
        connector.ensure_dataset(target.project, target.dataset)
        connector.execute(
            f"CREATE OR REPLACE VIEW {target.sql} AS {self._select()}", action="replace view"
        )

    def source(self) -> Iterator[dict[str, Any]]:
        """The SELECT's rows (a ``table`` transform), keyed by alias."""
        for row in self.connector.query(self._select(), action="transform query"):
            yield dict(row.items())


__all__ = ["BigQueryTransformJob", "BigQueryTransformOptions"]
