"""The README's job-author examples ("Writing a transfer") run as written: the
declarative transfer and its harness test, and the plain `ETLJob` subclass."""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from etl_framework import registry

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks() -> list[str]:
    text = README.read_text()
    section = text[text.index("## Writing a transfer") : text.index("### Running it")]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def _module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    sys.modules[name] = module  # pydantic resolves the models' annotations through it
    exec(compile(source, f"README.md:{name}", "exec"), module.__dict__)
    return module


@pytest.fixture
def examples() -> Iterator[list[str]]:
    blocks = _blocks()
    assert len(blocks) == 3, "expected: the transfer, the plain ETLJob, the harness test"
    yield blocks
    for name in ("readme_customers", "readme_my_transfer", "readme_test"):
        sys.modules.pop(name, None)


def test_the_declarative_example_and_its_harness_test_pass(
    examples: list[str], tmp_path: Path
) -> None:
    customers = _module("readme_customers", examples[0])
    assert registry.get("customers") is customers.CustomersJob
    assert customers.CustomersJob.options_model is customers.CustomersOptions
    harness_test = _module("readme_test", examples[2])
    harness_test.test_customers(tmp_path)


def test_the_plain_job_example_is_typed_by_its_options(examples: list[str]) -> None:
    my_transfer = _module("readme_my_transfer", examples[1])
    assert my_transfer.MyTransferJob.options_model is my_transfer.MyOptions
    assert registry.get("my_transfer") is my_transfer.MyTransferJob
