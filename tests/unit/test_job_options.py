"""Typed options: a job is generic over its options model, ``self.options`` is always
an instance of it, and config/context never import the job."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from etl_framework import ETLJob, Outcome, RunContext, Window, WriteMode
from etl_framework.config import config_from_mapping
from etl_framework.exceptions import ConfigValidationError, RegistryError
from etl_framework.options import NoOptions
from etl_framework.transfers import TableTransferJob, TableTransferOptions

PACKAGE = Path(__file__).resolve().parents[2] / "etl_framework"


class BatchOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_size: int = 1000
    label: str | None = None


class _Steps:
    def pre_execution_cleansing(self) -> None: ...

    def pipeline(self) -> None: ...

    def post_execution_cleanup(self, outcome: Outcome) -> None: ...


class BatchJob(_Steps, ETLJob[BatchOptions]):
    transfer_name = "batch"


class PlainJob(_Steps, ETLJob):
    transfer_name = "plain"


def context(
    options: BaseModel | None = None, transfers: dict[str, Any] | None = None
) -> RunContext:
    return RunContext(
        transfer="batch",
        execution_date=dt.date(2024, 1, 15),
        mode=WriteMode.TRUNCATE,
        window=Window.unbounded(),
        run_id="run-1",
        config=config_from_mapping({"transfers": transfers or {}}),
        options=options,
    )


def test_the_parameter_is_the_options_model() -> None:
    assert BatchJob.options_model is BatchOptions
    assert PlainJob.options_model is NoOptions


def test_options_are_the_validated_instance_or_the_defaults() -> None:
    given = BatchOptions(batch_size=5)
    assert BatchJob(context(given)).options is given
    defaults = BatchJob(context()).options
    assert isinstance(defaults, BatchOptions) and defaults.batch_size == 1000


def test_options_of_another_model_are_refused() -> None:
    with pytest.raises(TypeError, match="needs options of type BatchOptions, got NoOptions"):
        BatchJob(context(NoOptions()))


def test_options_from_config_validate_and_default() -> None:
    config = config_from_mapping({"transfers": {"batch": {"batch_size": 7}}})
    assert BatchJob.options_from(config) == BatchOptions(batch_size=7)
    assert BatchJob.options_from(config_from_mapping({})) == BatchOptions()
    bad = config_from_mapping({"transfers": {"batch": {"batch_size": "many"}}})
    with pytest.raises(ConfigValidationError, match=r"transfers\.batch\.batch_size"):
        BatchJob.options_from(bad)


def test_a_job_without_options_refuses_some() -> None:
    config = config_from_mapping({"transfers": {"plain": {"x": 1}}})
    assert PlainJob.option_problems(config) == [
        ("transfers.plain", "this transfer takes no options")
    ]
    assert PlainJob.options_from(config_from_mapping({})) == NoOptions()


def test_declarative_bases_are_generic_too() -> None:
    class Opts(TableTransferOptions):
        source: str = "here"

    class Parent(TableTransferJob[Opts]):
        target_table = "t"

    class Child(Parent):
        pass

    assert TableTransferJob.options_model is TableTransferOptions
    assert Parent.options_model is Opts
    assert Child.options_model is Opts


def test_an_options_model_must_match_the_parameter() -> None:
    with pytest.raises(RegistryError, match="options_model NoOptions is not a BatchOptions"):

        class Wrong(_Steps, ETLJob[BatchOptions]):
            options_model = NoOptions


def _imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / module).read_text())
    names: set[str] = set()
    for node in ast.walk(tree):  # TYPE_CHECKING blocks included
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("config.py", {"etl_framework.job", "etl_framework.context"}),
        ("context.py", {"etl_framework.job"}),
        ("state/store.py", {"etl_framework.job", "etl_framework.context"}),
    ],
)
def test_config_and_context_do_not_know_the_job(module: str, forbidden: set[str]) -> None:
    assert not _imports(module) & forbidden
