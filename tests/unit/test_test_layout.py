"""The tests' own layout (issue 17 item 6), read with ``ast``, nothing imported.

- No test file imports a ``test_*`` module or a ``conftest`` by name: shared data and
  helpers live in ``tests/support/``.
- Nothing under ``tests/unit`` needs a service: no service marker, no ``tests.services``.
- Every folder of ``tests/unit`` mirrors a package folder of ``etl_framework`` (the few
  exceptions are listed in ``NOT_PACKAGES`` with the reason).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
UNIT = TESTS / "unit"
PACKAGE = REPO / "etl_framework"
SERVICE_MARKERS = frozenset({"postgres", "gcs", "bigquery", "http", "airflow", "k8s", "container"})
SERVICE_FIXTURES = frozenset(
    {"postgres_url", "postgres_server_url", "gcs_emulator", "gcs_bucket", "bigquery_emulator"}
)
NOT_PACKAGES = {
    # the shipped transfers and their example configs (jobs/, beside etl_framework/)
    "jobs": REPO / "jobs",
    # data files of a test folder (recorded responses), not tests
    "gcp/data": UNIT / "gcp" / "data",
}


def python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def imported_modules(tree: ast.AST, path: Path) -> list[str]:
    """Every module an ``import``/``from ... import`` names, relative ones resolved."""
    names: list[str] = []
    package = path.relative_to(REPO).with_suffix("").parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.append(base)
            # `from tests.unit.load import test_x` imports the module test_x by name
            names.extend(f"{base}.{alias.name}" for alias in node.names)
    return names


def layout_problems_of_imports(path: Path, source: str) -> list[str]:
    tree = ast.parse(source, filename=str(path))
    problems = []
    for name in imported_modules(tree, path):
        last = name.rsplit(".", 1)[-1]
        if name.startswith("tests.") and (last.startswith("test_") or last == "conftest"):
            problems.append(f"{path.relative_to(REPO)} imports {name}")
    return problems


def service_problems(path: Path, source: str) -> list[str]:
    tree = ast.parse(source, filename=str(path))
    where = path.relative_to(REPO)
    problems = []
    for name in imported_modules(tree, path):
        if name == "tests.services" or name.startswith("tests.services."):
            problems.append(f"{where} imports {name}")
    for node in ast.walk(tree):
        # pytest.mark.<service> in a decorator, pytestmark or a param's marks
        if (
            isinstance(node, ast.Attribute)
            and node.attr in SERVICE_MARKERS
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "mark"
        ):
            problems.append(f"{where}:{node.lineno} carries the {node.attr} marker")
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for arg in node.args.args + node.args.kwonlyargs:
                if arg.arg in SERVICE_FIXTURES:
                    problems.append(f"{where}:{node.lineno} {node.name} asks for {arg.arg}")
    return problems


def folder_problems(unit: Path, package: Path) -> list[str]:
    problems = []
    for folder in sorted(p for p in unit.rglob("*") if p.is_dir() and p.name != "__pycache__"):
        relative = folder.relative_to(unit).as_posix()
        if any(relative == e or relative.startswith(e + "/") for e in NOT_PACKAGES):
            continue
        if not (package / relative / "__init__.py").is_file():
            problems.append(f"tests/unit/{relative} mirrors no package etl_framework/{relative}")
    return problems


def test_no_test_imports_a_test_module_or_a_conftest() -> None:
    problems = [
        problem
        for path in python_files(TESTS)
        for problem in layout_problems_of_imports(path, path.read_text())
    ]
    assert problems == [], "shared code belongs in tests/support/:\n" + "\n".join(problems)


def test_unit_tests_need_no_service() -> None:
    problems = [
        problem
        for path in python_files(UNIT)
        for problem in service_problems(path, path.read_text())
    ]
    assert problems == [], "move these to tests/integration/<service>/:\n" + "\n".join(problems)


def test_every_unit_folder_mirrors_a_package_folder() -> None:
    assert folder_problems(UNIT, PACKAGE) == []
    for reason, folder in NOT_PACKAGES.items():
        assert folder.is_dir(), f"stale exception {reason}: {folder} is gone"


# The checks fail when the layout is broken (each on a planted counter-example).


@pytest.mark.parametrize(
    "line",
    [
        "from tests.unit.load.test_property import check",
        "import tests.unit.test_cli",
        "from tests.unit.load import test_property",
        "from tests.integration.http.conftest import FAST_RETRY",
        "from .conftest import thing",
        "from . import test_fence",
    ],
)
def test_importing_a_test_module_or_conftest_is_found(line: str) -> None:
    path = UNIT / "load" / "test_planted.py"
    assert layout_problems_of_imports(path, line + "\n")


def test_importing_support_is_fine() -> None:
    path = UNIT / "load" / "test_planted.py"
    source = "from tests.support.strategy_cases import connector\nimport tests.support.testing\n"
    assert layout_problems_of_imports(path, source) == []


@pytest.mark.parametrize(
    "source",
    [
        "import pytest\n@pytest.mark.gcs\ndef test_x():\n    pass\n",
        "import pytest\npytestmark = pytest.mark.postgres\n",
        "import pytest\n@pytest.mark.parametrize('a', [pytest.param(1, marks=pytest.mark.http)])"
        "\ndef test_x(a):\n    pass\n",
        "from tests.services.postgres import postgres_server\n",
        "def test_x(postgres_url):\n    pass\n",
        "def test_x(tmp_path, *, gcs_bucket):\n    pass\n",
    ],
)
def test_a_service_in_a_unit_test_is_found(source: str) -> None:
    assert service_problems(UNIT / "test_planted.py", source)


def test_a_plain_unit_test_is_not_flagged() -> None:
    source = (
        "import pytest\n@pytest.mark.parametrize('a', [1])\ndef test_x(a, tmp_path):\n    pass\n"
    )
    assert service_problems(UNIT / "test_planted.py", source) == []


def test_a_unit_folder_without_a_package_is_found(tmp_path: Path) -> None:
    unit, package = tmp_path / "unit", tmp_path / "etl_framework"
    for folder in ("load", "load/bq", "k8s", "load/sql"):
        (unit / folder).mkdir(parents=True)
    for folder in ("load", "load/bq"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    assert folder_problems(unit, package) == [
        "tests/unit/k8s mirrors no package etl_framework/k8s",
        "tests/unit/load/sql mirrors no package etl_framework/load/sql",
    ]
