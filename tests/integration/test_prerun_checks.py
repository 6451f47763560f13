"""Everything checkable is checked before the ledger is touched (real processes).

Each case is one line on stderr with exit 2 or 3, and the ledger is either not
created at all or holds exactly the rows it held before.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.support.hostile import ledger_rows, run_python
from tests.support.pipeline import REPO, run_pipeline

JOBS = "tests.support.sample_jobs,tests.support.hostile_jobs"


def _config(tmp_path: Path, body: str) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state: {{url: 'sqlite:///{tmp_path / 'state.db'}'}}\n"
        f"connections:\n  warehouse: {{type: sql, url: 'sqlite:///{tmp_path / 'wh.db'}'}}\n" + body
    )
    return config


def _ledger_rows(tmp_path: Path) -> int | None:
    return ledger_rows(tmp_path / "state.db")


def _one_line(stderr: str, prog: str = "pipeline") -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), stderr
    return lines[0]


@pytest.fixture
def ledger_with_one_run(tmp_path: Path) -> int:
    """A ledger that already holds one run (so "untouched" is a row count, not absence)."""
    config = _config(tmp_path, f"transfers: {{trace_job: {{trace_dir: '{tmp_path / 't'}'}}}}\n")
    ok = run_pipeline(["20240115", "trace_job", "truncate", str(config)], cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert _ledger_rows(tmp_path) == 1
    return 1


CASES: dict[str, tuple[str, str, list[str], int, str]] = {
    # name: (config body, transfer, extra args, exit code, message)
    "non-mapping environments.<env>": (
        "environments:\n  prod: [1, 2]\n",
        "demo_orders",
        [],
        3,
        "environments.prod: must be a mapping",
    ),
    "HTTP source naming no connection": (
        "transfers:\n  plain_http_job: {source: {connection: nope, path: x}}\n",
        "plain_http_job",
        [],
        3,
        "transfers.plain_http_job.source.connection: needs a connection named 'nope'",
    ),
    "page cache naming a missing gcs connection": (
        "  api: {type: http, base_url: 'http://127.0.0.1:9'}\n"
        "transfers:\n  plain_http_job: {source: {connection: api, path: x,"
        " page_cache: {location: /tmp/c, gcs_connection: gcs}}}\n",
        "plain_http_job",
        [],
        3,
        "transfers.plain_http_job.source.page_cache.gcs_connection: needs a connection named 'gcs'",
    ),
    "invalid table name": (
        "transfers:\n  demo_orders: {table: 'orders; DROP TABLE x'}\n",
        "demo_orders",
        [],
        3,
        "transfers.demo_orders.table: invalid table name 'orders; DROP TABLE x'",
    ),
    "SQLite temp schema": (
        "transfers:\n  demo_orders: {table: temp.orders}\n",
        "demo_orders",
        [],
        3,
        "'temp.orders' is in the temporary schema 'temp': the table would vanish",
    ),
    "SQLite unknown schema": (
        "transfers:\n  demo_orders: {table: sales.orders}\n",
        "demo_orders",
        [],
        3,
        "SQLite has no schema 'sales'",
    ),
    "unknown transfer": ("", "no_such_transfer", [], 2, "ETL_JOBS_MODULES=" + JOBS),
}


@pytest.mark.parametrize("case", list(CASES))
def test_found_before_the_ledger_is_created(tmp_path: Path, case: str) -> None:
    body, transfer, extra, code, message = CASES[case]
    config = _config(tmp_path, body)
    result = run_pipeline(
        ["20240115", transfer, "truncate", str(config), *extra],
        cwd=tmp_path,
        ETL_JOBS_MODULES=JOBS,
        **({"ETL_ENV": "prod"} if case.startswith("non-mapping") else {}),
    )
    assert result.returncode == code, result.stderr
    assert message in _one_line(result.stderr)
    assert _ledger_rows(tmp_path) is None  # the ledger file was not even created
    assert not (tmp_path / "wh.db").exists()  # nor the warehouse


@pytest.mark.parametrize("case", ["SQLite temp schema", "HTTP source naming no connection"])
def test_an_existing_ledger_keeps_its_row_count(
    tmp_path: Path, ledger_with_one_run: int, case: str
) -> None:
    body, transfer, _extra, code, message = CASES[case]
    config = _config(tmp_path, body)
    result = run_pipeline(
        ["20240115", transfer, "truncate", str(config)], cwd=tmp_path, ETL_JOBS_MODULES=JOBS
    )
    assert result.returncode == code and message in _one_line(result.stderr)
    assert _ledger_rows(tmp_path) == ledger_with_one_run


def test_a_case_only_conflict_with_an_existing_table_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path, "transfers:\n  demo_orders: {table: ORDERS}\n")
    with sqlite3.connect(tmp_path / "wh.db") as conn:
        conn.execute("CREATE TABLE orders (order_id bigint)")
    result = run_pipeline(["20240115", "demo_orders", "truncate", str(config)], cwd=tmp_path)
    assert result.returncode == 3
    line = _one_line(result.stderr)
    assert "target table 'ORDERS' differs only by case from the existing table 'orders'" in line
    assert _ledger_rows(tmp_path) is None


def test_a_job_module_with_a_syntax_error_names_module_and_line(tmp_path: Path) -> None:
    (tmp_path / "broken_jobs.py").write_text("x = 1\ndef broken(:\n    pass\n")
    config = _config(tmp_path, "")
    result = run_pipeline(
        ["20240115", "demo_orders", "truncate", str(config)],
        cwd=tmp_path,
        ETL_JOBS_MODULES="broken_jobs",
        PYTHONPATH=f"{REPO}:{tmp_path}",
    )
    assert result.returncode == 3
    line = _one_line(result.stderr)
    assert "ETL_JOBS_MODULES: cannot import 'broken_jobs': SyntaxError in" in line
    assert "broken_jobs.py line 2" in line
    assert _ledger_rows(tmp_path) is None


def test_etlctl_runs_limit_out_of_range_is_a_usage_error(
    tmp_path: Path, ledger_with_one_run: int
) -> None:
    config = _config(tmp_path, "")
    for limit, message in [
        ("100000000000000000000", "is not in the range 1<=x<=100000"),  # was a traceback
        ("1e20", "is not a valid integer"),
    ]:
        admin = "from etl_framework.admin import main; main()"
        result = run_python(["-c", admin, "runs", str(config), "--limit", limit], tmp_path)
        assert result.returncode == 2, result.stderr
        assert message in _one_line(result.stderr, "etlctl")


def test_rendering_a_job_for_an_unregistered_transfer_is_an_error(tmp_path: Path) -> None:
    transfers = (REPO / "gke_deploy" / "transfers.yaml").read_text()
    (tmp_path / "transfers.yaml").write_text(
        transfers.replace("name: demo_orders", "name: demo_ordrs")
    )
    result = run_python(
        [
            *("-m", "etl_framework.deploy", "render", "--env", "dev"),
            *("--transfer", "demo_ordrs", "--date", "20240115"),
            *("--transfers-file", str(tmp_path / "transfers.yaml")),
        ],
        REPO,
    )
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    # The closest name comes first; other near names may follow it.
    assert "unknown transfer 'demo_ordrs': did you mean 'demo_orders'" in line
    assert "ETL_JOBS_MODULES=tests.support.sample_jobs" in line
    assert result.stdout == ""
