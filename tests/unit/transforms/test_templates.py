"""Where-clause templates: helpers per dialect, literals, sandbox, errors with lines."""

from __future__ import annotations

import datetime as dt

import pytest

from etl_framework.exceptions import ExitCode, TemplateError
from etl_framework.transforms.templates import literal, render, template_context
from etl_framework.window import Window, WriteMode

DAY = dt.date(2024, 2, 15)


def rendered(source: str, dialect: str = "postgresql", **params: object) -> str:
    context = template_context(
        DAY,
        Window.for_run(WriteMode.DELTA, DAY, dt.date(2024, 2, 10)),
        params,
        financial_year_first_month_day="04-25",
    )
    return render("Job.where_clause", source, context, dialect)


@pytest.mark.parametrize(
    ("source", "postgresql", "sqlite", "bigquery"),
    [
        ("{{ ds }}", "2024-02-15", "2024-02-15", "2024-02-15"),
        ("{{ ds_nodash }}", "20240215", "20240215", "20240215"),
        ("{{ execution_date }}", "DATE '2024-02-15'", "'2024-02-15'", "DATE '2024-02-15'"),
        ("{{ month_start(ds) }}", "DATE '2024-02-01'", "'2024-02-01'", "DATE '2024-02-01'"),
        ("{{ month_end(ds) }}", "DATE '2024-02-29'", "'2024-02-29'", "DATE '2024-02-29'"),
        (
            "{{ next_month_start('2024-12-31') }}",
            "DATE '2025-01-01'",
            "'2025-01-01'",
            "DATE '2025-01-01'",
        ),
        (
            "{{ financial_year_start() }}",
            "DATE '2023-04-25'",
            "'2023-04-25'",
            "DATE '2023-04-25'",
        ),
        (
            "{{ financial_year_start('2024-04-25') }}",
            "DATE '2024-04-25'",
            "'2024-04-25'",
            "DATE '2024-04-25'",
        ),
        ("{{ window.start }}", "DATE '2024-02-10'", "'2024-02-10'", "DATE '2024-02-10'"),
        ("{{ window.end }}", "DATE '2024-02-16'", "'2024-02-16'", "DATE '2024-02-16'"),
        ("{{ window.last_day }}", "DATE '2024-02-15'", "'2024-02-15'", "DATE '2024-02-15'"),
        ("{{ date(ds) - days(1) }}", "DATE '2024-02-14'", "'2024-02-14'", "DATE '2024-02-14'"),
        ("{{ params.n }}", "3", "3", "3"),
    ],
)
def test_each_helper_renders_a_typed_literal_per_dialect(
    source: str, postgresql: str, sqlite: str, bigquery: str
) -> None:
    assert rendered(source, "postgresql", n=3) == postgresql
    assert rendered(source, "sqlite", n=3) == sqlite
    assert rendered(source, "bigquery", n=3) == bigquery


def test_the_seed_where_clause_renders() -> None:
    seed = (
        "date_trunc('month', completion_date)::DATE = "
        "date_trunc('month', to_date('{{ ds }}', 'YYYY-MM-DD'))"
    )
    assert "to_date('2024-02-15', 'YYYY-MM-DD')" in rendered(seed)


@pytest.mark.parametrize(
    ("value", "postgresql", "bigquery"),
    [
        ("x' OR '1'='1", "'x'' OR ''1''=''1'", "'x\\' OR \\'1\\'=\\'1'"),
        ("{{ 7*7 }}", "'{{ 7*7 }}'", "'{{ 7*7 }}'"),
        ("a\\'b", "'a\\''b'", "'a\\\\\\'b'"),
        ("line\nbreak", "'line\nbreak'", "'line\\nbreak'"),
    ],
)
def test_params_are_string_literals_never_sql_or_templates(
    value: str, postgresql: str, bigquery: str
) -> None:
    assert rendered("{{ params.v }}", "postgresql", v=value) == postgresql
    assert rendered("{{ params.v }}", "sqlite", v=value) == postgresql
    assert rendered("{{ params.v }}", "bigquery", v=value) == bigquery
    # a filter's result is still a value, not SQL
    assert rendered("{{ params.v | upper }}", "sqlite", v="o'k") == "'O''K'"


def test_other_literals() -> None:
    assert literal(None, "postgresql") == "NULL"
    assert literal(True, "sqlite") == "1"
    assert literal(True, "bigquery") == "TRUE"
    assert literal(dt.datetime(2024, 1, 2, 3, 4), "postgresql") == "TIMESTAMP '2024-01-02 03:04:00'"


@pytest.mark.parametrize(
    "escape",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ month_start.__globals__ }}",
        "{{ params.update({'a': 1}) }}",
    ],
)
def test_sandbox_escapes_are_refused_with_the_line(escape: str) -> None:
    with pytest.raises(TemplateError) as caught:
        rendered(f"status = 'completed'\n AND {escape}")
    assert caught.value.exit_code is ExitCode.CONFIG
    assert caught.value.template == "Job.where_clause"
    assert caught.value.line == 2


def test_undefined_names_fail_instead_of_rendering_empty() -> None:
    with pytest.raises(
        TemplateError, match=r"template Job.where_clause line 3: 'dss' is undefined"
    ):
        rendered("a = 1\nAND b = 2\nAND c = '{{ dss }}'")
    with pytest.raises(TemplateError, match="line 1"):
        rendered("{{ params.missing }}")


def test_syntax_errors_name_the_line() -> None:
    with pytest.raises(TemplateError, match=r"line 2: "):
        rendered("a = 1\nAND {{ b = }}")


def test_an_unrenderable_value_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="cannot render a list"):
        rendered("{{ params.v }}", v=[1, 2])


def test_financial_year_first_month_day_is_validated() -> None:
    from etl_framework.exceptions import ConfigError

    with pytest.raises(ConfigError, match="MM-DD"):
        template_context(DAY, Window.unbounded(), financial_year_first_month_day="13-01")
