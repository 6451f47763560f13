"""`Transform`: what a declarative transform states, whatever its warehouse.

A transform reads the table of an upstream transfer (data-flow's "view pipeline"):
``SELECT <fields> FROM <upstream table> WHERE <where_clause>``, and materialises
the result as a view or a table in the same connection. The SQL (`SqlTransformJob`)
and BigQuery (`BigQueryTransformJob`) bases mix this in before their table transfer
base, so a ``table`` transform is published by the existing write strategies (guards,
staging, fencing and the ledger unchanged) and a ``view`` transform replaces its view
atomically.

``fields`` and ``where_clause`` are SQL written by the job author and trusted as
such; only the template's *values* (dates, config ``params``) are untrusted, and
`etl_framework.transforms.templates` renders them as literals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator

from etl_framework.exceptions import ConfigError, RegistryError
from etl_framework.job import Outcome
from etl_framework.mapping import FieldMapping, parse_column_spec
from etl_framework.transforms.templates import (
    DEFAULT_FINANCIAL_YEAR_FIRST_MONTH_DAY,
    parse_month_day,
    render,
    template_context,
)
from etl_framework.window import WINDOW_KINDS, Window, WriteMode

if TYPE_CHECKING:
    from etl_framework.config import FrameworkConfig
    from etl_framework.context import RunContext

Materialized = Literal["view", "table"]
ALL_COLUMNS = "*"
"""``fields = ALL_COLUMNS``: every column of the upstream table, as they are named."""

ParamValue = str | int | float | bool | dt.date | None


class TransformSettings(BaseModel):
    """Options every transform takes in ``transfers.<name>`` (mixed into its model)."""

    source_table: str | None = None
    """The table read (default: the upstream transfer's target table)."""
    params: dict[str, ParamValue] = Field(default_factory=dict)
    """Values templates read as ``params.<name>``, rendered as SQL literals."""
    financial_year_first_month_day: str = DEFAULT_FINANCIAL_YEAR_FIRST_MONTH_DAY
    """``MM-DD`` first day of the financial year, for ``financial_year_start()``."""

    @field_validator("financial_year_first_month_day")
    @classmethod
    def _month_day(cls, value: str) -> str:
        try:
            parse_month_day(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value


FieldSpecs = str | Sequence[tuple[str, str]] | Sequence[tuple[str, str, str]]


class Transform:
    """Mixin of a transform job: declarations, the SELECT and the view lifecycle.

    Declare `upstream` (the transfer read; it is also a `depends_on`), `fields`,
    `where_clause` and `materialized`. A ``table`` transform needs typed fields
    ``(expression, alias, column_type)`` (they become its mapping), or `ALL_COLUMNS`
    (the mapping is the source table's columns, reflected at run time), and, for delta
    runs with ``replace_window``, a ``window_column``.

    Before anything is touched, every run checks that its SELECT runs on the source
    (the table exists, the columns resolve): a ConfigError (exit 3) naming what is
    missing otherwise. A view is published through the warehouse fence like a table
    (claimed in ``pre_execution_cleansing``, checked in the replacing transaction), so
    a run that lost its lease does not replace it.
    """

    # --- declarations ----------------------------------------------------------------

    upstream: ClassVar[str] = ""
    """The transfer whose target table this transform reads."""
    source_table: ClassVar[str] = ""
    """The table read, when it is not the upstream's target table."""
    fields: ClassVar[FieldSpecs] = ALL_COLUMNS
    """``(sql_expression, alias)`` pairs (``table``: ``(expression, alias, type)``
    triples), or `ALL_COLUMNS`."""
    where_clause: ClassVar[str] = ""
    """A Jinja2 template of the WHERE condition (see `etl_framework.transforms.templates`)."""
    materialized: ClassVar[Materialized] = "view"
    """``view``: replace a view; ``table``: publish through the write strategies."""
    filter_to_window: ClassVar[bool] = True
    depends_on: ClassVar[tuple[str, ...]] = ()

    # the host job class provides these
    context: RunContext
    options: Any
    transfer_name: ClassVar[str]
    target_table: ClassVar[str]
    mapping: ClassVar[FieldMapping]
    window_column: ClassVar[str | None]
    target_connection: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        fields = cls.__dict__.get("fields")
        if (
            fields is not None
            and "mapping" not in cls.__dict__
            and cls.__dict__.get("materialized", cls.materialized) == "table"
        ):
            if fields == ALL_COLUMNS:  # reflected at run time, never a parent's
                cls.mapping = None  # type: ignore[assignment]
            else:
                cls.mapping = typed_mapping(cls.__name__, fields)
        super().__init_subclass__(**kwargs)
        if fields is not None and fields != ALL_COLUMNS:
            field_pairs(cls.__name__, fields)  # checks the shape
        if cls.materialized not in ("view", "table"):
            raise RegistryError(f"{cls.__name__}.materialized must be 'view' or 'table'")
        if cls.materialized == "view" and "supported_modes" not in cls.__dict__:
            cls.supported_modes = frozenset(WriteMode)  # type: ignore[attr-defined]
        if cls.upstream and cls.upstream not in cls.depends_on:
            cls.depends_on = (*cls.depends_on, cls.upstream)

    # --- the SQL ---------------------------------------------------------------------

    @classmethod
    def template_name(cls) -> str:
        return f"{cls.__module__}.{cls.__qualname__}.where_clause"

    @classmethod
    def render_where(
        cls,
        dialect: str,
        options: Any,
        execution_date: dt.date,
        window: Window,
    ) -> str:
        """The where clause for this run (TemplateError, exit 3, if it cannot render)."""
        settings = options if isinstance(options, TransformSettings) else TransformSettings()
        context = template_context(
            execution_date,
            window,
            settings.params,
            financial_year_first_month_day=settings.financial_year_first_month_day,
        )
        text = render(cls.template_name(), cls.where_clause, context, dialect)
        return text.strip().rstrip(";").strip()

    @classmethod
    def source_table_name(cls, config: FrameworkConfig, options: Any) -> str:
        """The table read: option ``source_table``, `source_table`, else the upstream's."""
        chosen = getattr(options, "source_table", None) or cls.source_table
        if chosen:
            return str(chosen)
        if not cls.upstream:
            raise ConfigError(
                f"transform {cls.transfer_name!r} declares neither upstream nor source_table"
            )
        from etl_framework import registry

        upstream = registry.get(cls.upstream)
        raw = config.transfers.get(cls.upstream, {})
        table = raw.get("table") if isinstance(raw, dict) else None
        table = table or getattr(upstream, "target_table", "")
        if not table:
            raise ConfigError(
                f"transform {cls.transfer_name!r}: upstream {cls.upstream!r} has no target "
                "table; set source_table"
            )
        return str(table)

    @classmethod
    def select_sql(cls, quote_alias: Any, source: str, where: str) -> str:
        """``SELECT <fields> FROM <source> [WHERE <where>]`` (source already quoted)."""
        if cls.fields == ALL_COLUMNS:
            columns = "*"
        else:
            columns = ", ".join(
                f"{expression} AS {quote_alias(alias)}"
                for expression, alias in field_pairs(cls.__name__, cls.fields)
            )
        sql = f"SELECT {columns} FROM {source}"
        return f"{sql} WHERE {where}" if where else sql

    # --- hooks the runner calls before anything is touched -----------------------------

    @classmethod
    def target_dialect(cls, config: FrameworkConfig, options: Any) -> str:
        raise NotImplementedError

    @classmethod
    def preflight(
        cls,
        config: FrameworkConfig,
        options: Any,
        execution_date: dt.date,
        mode: WriteMode,
        window: Window,
    ) -> None:
        """Render the where clause once: a template error is exit 3 before the run."""
        cls.render_where(cls.target_dialect(config, options), options, execution_date, window)
        cls.source_table_name(config, options)

    # --- lifecycle: a view is replaced in one step; a table goes through the strategies

    def pre_execution_cleansing(self) -> None:
        """Check the SELECT runs on the source (exit 3 naming what is missing, nothing
        touched), then claim the target in the warehouse fence (a table: with its
        strategy, which also drops crashed runs' staging; a view: `claim_view`)."""
        self.check_select()
        if self.materialized == "table":
            super().pre_execution_cleansing()  # type: ignore[misc]
            return
        reconciled = self.claim_view()
        if reconciled:
            self.context.counters.add("runs_reconciled", len(reconciled))

    def pipeline(self) -> None:
        if self.materialized == "table":
            super().pipeline()  # type: ignore[misc]
            return
        self.replace_view()
        self.context.logger.info("replaced view %s", self.options.table or self.target_table)

    def post_execution_cleanup(self, outcome: Outcome) -> None:
        if self.materialized == "table":
            super().post_execution_cleanup(outcome)  # type: ignore[misc]
        elif not outcome.succeeded:
            self.context.logger.info("the view is unchanged")

    @property
    def strategy(self) -> Any:
        """The table transform's write strategy; with `ALL_COLUMNS` its mapping is built
        first from the source table's columns (`reflected_mapping`)."""
        if (
            self.fields == ALL_COLUMNS
            and not isinstance(vars(self).get("mapping"), FieldMapping)
            and not isinstance(getattr(type(self), "mapping", None), FieldMapping)
        ):
            vars(self)["mapping"] = self.reflected_mapping()
        return super().strategy  # type: ignore[misc]

    def reflected_mapping(self) -> FieldMapping:
        """``SELECT *``'s mapping: each source column as itself, typed as it is there."""
        source = self.source_table_name(self.context.config, self.options)
        columns = self.source_columns(source)
        specs: list[tuple[str, str, str]] = []
        for name, spec in columns:
            try:
                parse_column_spec(spec)
            except ConfigError:
                raise ConfigError(
                    f"transform {self.transfer_name!r}: column {name!r} of {source} has type "
                    f"{spec!r}, which a table transform cannot copy; declare typed fields"
                ) from None
            specs.append((name, name, spec))
        mapping = FieldMapping.from_tuples(specs)
        if self.window_column is not None:
            if self.window_column not in mapping.columns:
                raise ConfigError(
                    f"transform {self.transfer_name!r}: window_column {self.window_column!r} "
                    f"is not a column of {source} (it has {', '.join(mapping.columns)})"
                )
            kind = mapping.field(self.window_column).type.kind
            if kind not in WINDOW_KINDS:
                raise ConfigError(
                    f"transform {self.transfer_name!r}: window_column {self.window_column!r} "
                    f"of {source} is {kind}; it must be date, timestamp or timestamptz"
                )
        self.context.logger.info(
            "all columns of %s: %s", source, ", ".join(f"{n} {s}" for _, n, s in specs)
        )
        return mapping

    # --- what each warehouse implements ----------------------------------------------

    def check_select(self) -> None:
        """ConfigError (exit 3) if the source table is missing or the SELECT does not
        run on it (e.g. a column that does not resolve); reads only."""
        raise NotImplementedError

    def claim_view(self) -> list[str]:
        """Claim the view in the warehouse fence; the runs reconciled (see the fences)."""
        raise NotImplementedError

    def replace_view(self) -> None:
        """Replace the view, the fence checked first in the same transaction/script."""
        raise NotImplementedError

    def source_columns(self, source: str) -> list[tuple[str, str]]:
        """``(name, column spec)`` of the source table's columns, in order (a column
        spec as a `FieldMapping` reads it: ``bigint not null``)."""
        raise NotImplementedError

    def render_select(self, dialect: str, quote_alias: Any, source: str) -> str:
        context = self.context
        where = self.render_where(dialect, self.options, context.execution_date, context.window)
        return self.select_sql(quote_alias, source, where)

    def select_problem(self, source: str, detail: str) -> ConfigError:
        """The one-line error of a SELECT that does not run on ``source``."""
        return ConfigError(
            f"transform {self.transfer_name!r}: its SELECT does not run on {source}: "
            f"{detail}; nothing was touched"
        )

    def missing_source(self, source: str) -> ConfigError:
        return ConfigError(
            f"transform {self.transfer_name!r}: source table {source} does not exist in "
            f"connection {self.options.connection or self.target_connection!r}; nothing "
            "was touched"
        )


def field_pairs(owner: str, fields: FieldSpecs) -> list[tuple[str, str]]:
    """``(expression, alias)`` of each declared field (RegistryError for a bad shape)."""
    if isinstance(fields, str):
        raise RegistryError(f"{owner}.fields must be ALL_COLUMNS or (expression, alias) pairs")
    pairs: list[tuple[str, str]] = []
    for spec in fields:
        items = list(spec)
        if len(items) not in (2, 3) or not all(isinstance(i, str) and i for i in items):
            raise RegistryError(
                f"{owner}.fields: {spec!r} is not (expression, alias[, column_type]) strings"
            )
        pairs.append((items[0], items[1]))
    if not pairs:
        raise RegistryError(f"{owner}.fields is empty")
    return pairs


def typed_mapping(owner: str, fields: FieldSpecs) -> FieldMapping:
    """The mapping of a ``table`` transform: alias -> alias, typed by the third item."""
    specs: list[tuple[str, str, str]] = []
    for spec in fields if not isinstance(fields, str) else ():
        items = list(spec)
        if len(items) != 3:
            raise RegistryError(
                f"{owner}: a table transform needs typed fields (expression, alias, "
                f"column_type); {spec!r} has no type"
            )
        specs.append((items[1], items[1], items[2]))
    return FieldMapping.from_tuples(specs)


__all__ = ["ALL_COLUMNS", "Materialized", "Transform", "TransformSettings"]
