"""Every Python block of the README and the job-author guide runs as written and passes
the lint gate (ruff format, ruff check, mypy strict): the declarative ``customers``
example is exactly what ``etlctl new-job customers --kind table`` writes, its harness
test passes, the plain `ETLJob`, the options and the transform examples define what
they say, and each guide example's own ``test_*`` functions pass."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from etl_framework import registry
from etl_framework.scaffold import render_files

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
GUIDE = REPO / "docs" / "job-authors.md"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


def _module(name: str, source: str, where: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = str(REPO / "jobs" / f"{name}.py")  # as if it were in jobs/
    sys.modules[name] = module  # pydantic resolves the models' annotations through it
    exec(compile(source, f"{where}:{name}", "exec"), module.__dict__)
    return module


@pytest.fixture
def clean_registry() -> Iterator[None]:
    registry.discover()
    state = registry.snapshot()
    before = set(sys.modules)
    yield
    registry.restore(state)
    for name in set(sys.modules) - before:
        if name.startswith(("readme_", "guide_")):
            del sys.modules[name]


def readme_block(text: str) -> str:
    blocks = [b for b in python_blocks(README) if text in b]
    assert len(blocks) == 1, f"expected one README block with {text!r}"
    return blocks[0]


def test_every_python_block_is_checked() -> None:
    """A new block needs a check here (or a test function of its own, in the guide)."""
    checked = ["# jobs/customers.py", "def test_customers", "class MyTransferJob"]
    checked += ['ConnectionRef("gcs")', "# jobs/demo_completed_orders.py"]
    blocks = python_blocks(README)
    assert len(blocks) == len(checked)
    assert all(any(marker in block for block in blocks) for marker in checked)
    assert all("def test_" in block for block in python_blocks(GUIDE))


def test_the_customers_example_is_the_scaffold_and_its_test_passes(
    clean_registry: None, tmp_path: Path
) -> None:
    block = readme_block("# jobs/customers.py")
    generated = render_files(
        "customers",
        "table",
        jobs_dir=Path("jobs"),
        config_path=Path("jobs/config/local.yaml"),
        tests_dir=Path("tests/unit/jobs"),
        root=Path.cwd(),
    )[Path("jobs/customers.py")]
    without_docstring = generated.split('"""\n\n', 1)[1]
    assert block.split("\n", 1)[1] == without_docstring
    customers = _module("readme_customers", block, "README.md")
    assert registry.get("customers") is customers.CustomersJob
    assert customers.CustomersJob.options_model is customers.CustomersOptions
    harness_test = _module("readme_test", readme_block("def test_customers"), "README.md")
    harness_test.test_customers(tmp_path)


def test_the_plain_job_and_options_examples(clean_registry: None) -> None:
    my_transfer = _module("readme_my_transfer", readme_block("class MyTransferJob"), "README")
    assert my_transfer.MyTransferJob.options_model is my_transfer.MyOptions
    assert registry.get("my_transfer") is my_transfer.MyTransferJob
    options = _module("readme_options", readme_block('ConnectionRef("gcs")'), "README")
    fields = options.MyOptions.model_fields
    assert fields["gcs_connection"].default == "gcs"


def test_the_transform_example_is_the_shipped_demo(clean_registry: None) -> None:
    from jobs.demo_completed_orders import DemoCompletedOrdersJob as shipped

    state = registry.snapshot()
    registry.restore(
        ({k: v for k, v in state[0].items() if k != "demo_completed_orders"}, *state[1:])
    )
    example = _module(
        "readme_transform", readme_block("# jobs/demo_completed_orders.py"), "README.md"
    ).DemoCompletedOrdersJob
    for name in ("upstream", "target_table", "materialized", "fields", "where_clause"):
        assert getattr(example, name) == getattr(shipped, name), name


@pytest.mark.parametrize("index", range(len(python_blocks(GUIDE))))
def test_each_guide_example_passes_its_own_tests(
    clean_registry: None, tmp_path: Path, index: int
) -> None:
    module = _module(f"guide_{index}", python_blocks(GUIDE)[index], "docs/job-authors.md")
    tests = [value for name, value in vars(module).items() if name.startswith("test_")]
    assert tests
    for number, test in enumerate(tests):
        (tmp_path / str(number)).mkdir()
        test(tmp_path / str(number))


def test_every_block_passes_the_lint_gate(tmp_path: Path) -> None:
    files = []
    for source, prefix in ((README, "readme"), (GUIDE, "guide")):
        for index, block in enumerate(python_blocks(source)):
            path = tmp_path / f"{prefix}_{index}.py"
            path.write_text(block)
            files.append(str(path))
    env = {**os.environ, "MYPYPATH": str(REPO)}
    config = str(REPO / "pyproject.toml")
    for command in (
        ["ruff", "format", "--check", "--diff", "--config", config],
        ["ruff", "check", "--config", config],
        ["mypy", "--strict", "--config-file", config],
    ):
        result = subprocess.run(
            [sys.executable, "-m", *command, *files],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, f"{command[0]}:\n{result.stdout}{result.stderr}"
