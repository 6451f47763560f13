"""`BigQueryTransformJob`: a transform over a BigQuery table.

``view``: ``CREATE OR REPLACE VIEW`` (one statement, atomic), in one script after the
warehouse fence's check (`etl_framework.load.bigquery.fence`): ``SELECT ERROR(...)``
aborts the script before the view is replaced when a newer run claimed it. BigQuery
does not accept DDL on a permanent view inside a transaction, so the check and the
replacement are one script, not one transaction: a claim landing between the two
statements (milliseconds) is not seen. ``table``: the SELECT's rows published by
`BigQueryTransferJob`'s write strategies. See `etl_framework.transforms.sql` for an
example; only the base class differs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel
from typing_extensions import TypeVar

from etl_framework.exceptions import RegistryError
from etl_framework.transfers.bigquery import BigQueryTransferJob, BigQueryTransferOptions
from etl_framework.transforms.base import Transform, TransformSettings
from etl_framework.window import Window

if TYPE_CHECKING:
    from etl_framework.config import FrameworkConfig
    from etl_framework.connectors.bigquery import BigQueryConnector, TableRef
    from etl_framework.load.bigquery.fence import BigQueryFence

_AUTHOR_ERRORS = frozenset({"invalidQuery", "notFound", "invalid"})
"""BigQuery error reasons a SELECT's text causes (an unknown table or column)."""
_REFLECTED_TYPES = {
    "INTEGER": "bigint",
    "INT64": "bigint",
    "FLOAT": "double precision",
    "FLOAT64": "double precision",
    "BOOLEAN": "boolean",
    "BOOL": "boolean",
    "STRING": "text",
    "DATE": "date",
    "DATETIME": "timestamp",
    "TIMESTAMP": "timestamptz",
    "JSON": "json",
}


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

    _view_fence: BigQueryFence | None = None

    def view_fence(self) -> BigQueryFence:
        """The run's fence on the view (unbounded window: the whole view is replaced)."""
        from etl_framework.load.bigquery.fence import BigQueryFence

        if self._view_fence is None:
            context = self.context
            self._view_fence = BigQueryFence(
                self.connector,
                self.connector.table_ref(self.table),
                Window.unbounded(),
                token=context.fence_token,
                run_id=context.run_id,
                transfer=context.transfer,
                log=context.logger,
            )
        return self._view_fence

    def claim_view(self) -> list[str]:
        return self.view_fence().claim(self.context.ledger)

    def replace_view(self) -> None:
        connector = self.connector
        target = connector.table_ref(self.table)
        connector.ensure_dataset(target.project, target.dataset)
        publish_view(connector, target, self._select(), self.view_fence())

    def check_select(self) -> None:
        from etl_framework.connectors.bigquery import BigQueryJobError

        connector = self.connector
        source = self.source_table_name(self.context.config, self.options)
        ref = connector.table_ref(source)
        if connector.get_table(ref) is None:
            raise self.missing_source(source)
        try:
            connector.query(
                f"SELECT * FROM ({self._select()}) WHERE FALSE", action="transform check"
            )
        except BigQueryJobError as exc:
            reasons = {str(e.get("reason", "")) for e in exc.errors}
            if not reasons & _AUTHOR_ERRORS:
                raise
            raise self.select_problem(source, exc.detail.strip().splitlines()[0]) from None

    def source_columns(self, source: str) -> list[tuple[str, str]]:
        from etl_framework.exceptions import ConfigError

        connector = self.connector
        table = connector.get_table(connector.table_ref(source))
        if table is None:
            raise self.missing_source(source)
        columns: list[tuple[str, str]] = []
        for field in table.schema:
            kind = str(field.field_type).upper()
            spec = _REFLECTED_TYPES.get(kind)
            if kind in ("NUMERIC", "DECIMAL", "BIGNUMERIC", "BIGDECIMAL"):
                precision, scale = field.precision, field.scale
                spec = f"numeric({precision},{scale or 0})" if precision else "numeric"
            if spec is None or field.mode == "REPEATED":
                raise ConfigError(
                    f"column {field.name!r} of {source} is {field.mode} {kind}, which a table "
                    "transform over ALL_COLUMNS cannot copy; declare typed fields"
                )
            columns.append((field.name, spec + (" not null" if field.mode == "REQUIRED" else "")))
        return columns

    def source(self) -> Iterator[dict[str, Any]]:
        """The SELECT's rows (a ``table`` transform), keyed by alias."""
        for row in self.connector.query(self._select(), action="transform query"):
            yield dict(row.items())


def publish_view(
    connector: BigQueryConnector, target: TableRef, select: str, fence: BigQueryFence
) -> None:
    """Replace view ``target`` by ``select``; with a fencing token, in one script after
    the fence's check (`FencedOutError`, the view unchanged, if a newer run claimed it)
    and before marking this run the view's publisher."""
    create = f"CREATE OR REPLACE VIEW {target.sql} AS {select}"
    if not fence.enabled:
        connector.execute(create, action="replace view")
        return
    fence.ensure()
    check, mark = fence.publish_statements()
    fence.run("\n".join([check, f"{create};", mark]), fence.params(), action="replace view")


__all__ = ["BigQueryTransformJob", "BigQueryTransformOptions"]
