"""``etlctl new-job`` (etl_framework.scaffold): each kind scaffolded into a copy of the
project passes its own test, ruff and mypy at once and runs with ``pipeline``; the
config keeps its comments; a bad or taken name is refused touching nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from etl_framework.exceptions import ConfigError, UsageError
from etl_framework.scaffold import MAX_NAME_LENGTH, add_entry, check_name, class_name

REPO = Path(__file__).resolve().parents[3]
COPIED = ("etl_framework", "jobs", "tests", "pyproject.toml")
LONGEST = "abcdefghi_klmnopqrs_uvwxyz_123"
assert len(LONGEST) == MAX_NAME_LENGTH


def project_copy(root: Path) -> Path:
    """The project's code, jobs and tests (not its data or venvs) in ``root``."""
    ignore = shutil.ignore_patterns("__pycache__", ".etl", "*.pyc", "integration")
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=ignore)
        else:
            shutil.copy(source, root / name)
    return root


def run(project: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """A command in the copy, importing its etl_framework, jobs and tests only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETL_")}
    env["PYTHONPATH"] = str(project)
    env["ETL_SECRETS_DIR"] = str(project / "no-secrets")
    return subprocess.run(
        [sys.executable, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def new_job(project: Path, name: str, kind: str) -> subprocess.CompletedProcess[str]:
    return run(project, "-m", "etl_framework.admin", "new-job", name, "--kind", kind)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy with one job of each kind (short and longest names) scaffolded."""
    project = project_copy(tmp_path_factory.mktemp("project"))
    for name, kind in [
        ("customers", "table"),
        ("crm_contacts", "http"),
        ("gb_orders", "transform"),
        (LONGEST, "table"),
        ("a", "http"),
        (LONGEST[:-1] + "9", "transform"),
    ]:
        created = new_job(project, name, kind)
        assert created.returncode == 0, created.stderr
    return project


GENERATED = [
    "jobs/customers.py",
    "jobs/crm_contacts.py",
    "jobs/gb_orders.py",
    f"jobs/{LONGEST}.py",
    "jobs/a.py",
    f"jobs/{LONGEST[:-1]}9.py",
    "tests/unit/jobs/test_customers.py",
    "tests/unit/jobs/test_crm_contacts.py",
    "tests/unit/jobs/test_gb_orders.py",
    f"tests/unit/jobs/test_{LONGEST}.py",
    "tests/unit/jobs/test_a.py",
    f"tests/unit/jobs/test_{LONGEST[:-1]}9.py",
]


def test_the_generated_tests_pass_at_once(project: Path) -> None:
    tests = [p for p in GENERATED if p.startswith("tests/")]
    result = run(project, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "10 passed" in result.stdout


def test_the_generated_files_pass_ruff_and_mypy(project: Path) -> None:
    for args in (["format", "--check", "--diff"], ["check"]):
        result = run(project, "-m", "ruff", *args, *GENERATED)
        assert result.returncode == 0, result.stdout + result.stderr
    mypy = run(project, "-m", "mypy", "--strict", *GENERATED)
    assert mypy.returncode == 0, mypy.stdout + mypy.stderr


def test_pipeline_runs_each_scaffold(project: Path) -> None:
    """The commands new-job prints (and README's "Running it" shows for customers)."""
    config = "jobs/config/local.yaml"
    for args in (
        ["20240115", "customers", "truncate"],
        ["20240115", "customers", "delta", "--delta_start_date", "20240101"],  # as in README
        ["20240115", "crm_contacts", "truncate"],
        ["20240215", "demo_orders", "truncate"],
        ["20240215", "gb_orders", "truncate"],
    ):
        result = run(project, "-m", "etl_framework", *args[:3], config, *args[3:])
        assert result.returncode == 0, f"{args}: {result.stderr[-2000:]}"
    rows = run(
        project,
        "-c",
        "import sqlite3; db = sqlite3.connect('.etl/warehouse.db'); "
        "print([db.execute(f'SELECT count(*) FROM {t}').fetchone()[0] "
        "for t in ('customers', 'crm_contacts', 'gb_orders')])",
    )
    assert rows.stdout.strip().startswith("[6, 3, "), rows.stdout + rows.stderr


def test_the_config_keeps_its_comments_and_gains_the_entries(project: Path) -> None:
    before = (REPO / "jobs" / "config" / "local.yaml").read_text()
    after = (project / "jobs" / "config" / "local.yaml").read_text()
    kept = [line for line in before.splitlines() if line.strip().startswith("#")]
    assert all(line in after.splitlines() for line in kept)
    config = yaml.safe_load(after)
    assert config["transfers"]["customers"] == {
        "table": "customers",
        "source": "jobs/samples/customers.csv",
    }
    assert config["transfers"]["crm_contacts"]["sample"] == "jobs/samples/crm_contacts.json"
    assert config["connections"]["crm_contacts_api"]["type"] == "http"
    assert config["transfers"]["gb_orders"]["params"] == {"country": "GB"}
    assert config["environments"] == yaml.safe_load(before)["environments"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Orders", "invalid transfer name 'Orders'"),
        ("2orders", "invalid transfer name"),
        ("orders-eu", "invalid transfer name"),
        ("orders__eu", "invalid transfer name"),
        ("class", "a Python keyword"),
        (LONGEST + "x", f"at most {MAX_NAME_LENGTH} characters"),
        ("demo_orders", "transfer 'demo_orders' already exists"),
        ("customers", "transfer 'customers' already exists"),
    ],
)
def test_a_bad_or_taken_name_exits_2_touching_nothing(
    project: Path, name: str, message: str
) -> None:
    config = project / "jobs" / "config" / "local.yaml"
    before = config.read_text()
    files = sorted(p for p in project.rglob("*") if ".etl" not in p.parts)

    result = new_job(project, name, "table")

    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert config.read_text() == before
    assert sorted(p for p in project.rglob("*") if ".etl" not in p.parts) == files


def test_an_entry_in_the_config_or_a_file_already_there_is_refused(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    config = project / "jobs" / "config" / "local.yaml"
    config.write_text(config.read_text() + "# the end\n")
    text = config.read_text().replace("transfers:\n", "transfers:\n  fresh: {table: t}\n")
    config.write_text(text)

    result = new_job(project, "fresh", "table")

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "etlctl: error: transfers.fresh is already in jobs/config/local.yaml"
    )
    assert not (project / "jobs" / "fresh.py").exists()
    assert config.read_text() == text

    (project / "jobs" / "samples").mkdir()
    (project / "jobs" / "samples" / "stray.csv").write_text("id\n")
    result = new_job(project, "stray", "table")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "etlctl: error: jobs/samples/stray.csv already exists: transfer 'stray' is taken"
    )
    assert not (project / "jobs" / "stray.py").exists()
    assert config.read_text() == text


def test_add_entry_inserts_at_the_end_of_the_block() -> None:
    text = (
        "# head\ntransfers:\n    a: {table: a}   # four spaces\n\n    # a note\n"
        "# about environments\nenvironments: {}\n"
    )
    new = add_entry(text, "transfers", "b", "b:\n  table: b\n", where="c.yaml")
    assert new == (
        "# head\ntransfers:\n    a: {table: a}   # four spaces\n\n    # a note\n    b:\n"
        "      table: b\n# about environments\nenvironments: {}\n"
    )
    assert yaml.safe_load(new)["transfers"] == {"a": {"table": "a"}, "b": {"table": "b"}}


def test_add_entry_adds_a_missing_section_at_the_end() -> None:
    new = add_entry("state: {url: 'sqlite://'}", "transfers", "b", "b: {}\n", where="c.yaml")
    assert new == "state: {url: 'sqlite://'}\ntransfers:\n  b: {}\n"


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("transfers: {a: {}}\n", ConfigError, "transfers is written inline"),
        ("transfers: [a]\n", ConfigError, "transfers is not a mapping"),
        ("transfers:\n  b: {}\n", UsageError, "transfers.b is already in c.yaml"),
        ("transfers: [\n", ConfigError, "c.yaml is not valid YAML"),
    ],
)
def test_add_entry_refuses_what_it_cannot_edit_as_text(
    text: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        add_entry(text, "transfers", "b", "b: {}\n", where="c.yaml")


def test_names() -> None:
    check_name("orders_eu2")
    assert class_name("orders_eu2") == "OrdersEu2"
    with pytest.raises(UsageError, match="single underscores"):
        check_name("orders_")
