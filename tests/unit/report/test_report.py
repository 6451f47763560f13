"""``etlctl report``: calendar, last runs, run pages; escaped, masked, read-only."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from etl_framework.admin import cli
from etl_framework.exceptions import ConfigError
from etl_framework.report import read_history, write_report
from etl_framework.report.page import CSS, SCRIPT, content_security_policy, run_file
from etl_framework.state import RunStore
from tests.support.report_ledger import HOSTILE_ERROR, add_run, sqlite_ledger

SECRET = "pw-Zq8xTT31kk"
DAY = dt.date(2024, 2, 10)


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"state:\n  url: {url}\n"
        "connections:\n  warehouse:\n    type: sql\n"
        "    url: postgresql://etl:${WAREHOUSE_PASSWORD}@localhost/dw\n"
    )
    return path


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    url = sqlite_ledger(tmp_path / "state.db")
    store = RunStore(url)
    try:
        for offset in (0, 1, 3):
            add_run(store, "orders", DAY + dt.timedelta(days=offset))
        add_run(store, "orders", DAY + dt.timedelta(days=4), status="failed", error=HOSTILE_ERROR)
        add_run(store, "orders", DAY, status="failed", error="earlier failure")
        add_run(store, "events", DAY, status="failed", error=f"login failed for etl:{SECRET}")
    finally:
        store.close()
    return url


def _cells(page: str, transfer: str) -> dict[str, str]:
    calendar = page.split(f'data-transfer="{transfer}">', 1)[1].split("</div>", 1)[0]
    return dict(re.findall(r'data-day="([0-9-]+)" data-status="([a-z]+)"', calendar))


def test_calendar_runs_and_run_pages(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAREHOUSE_PASSWORD", SECRET)
    config = _config(tmp_path, ledger)
    result = CliRunner().invoke(cli, ["report", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "report of 6 runs" in result.output
    page = (tmp_path / "out" / "index.html").read_text()
    orders = _cells(page, "orders")
    # a day with a succeeded run is covered even if a later run of it failed
    assert orders["2024-02-10"] == orders["2024-02-11"] == orders["2024-02-13"] == "succeeded"
    assert orders["2024-02-12"] == "never"
    assert orders["2024-02-14"] == "failed"
    assert max(orders) == "2024-02-14" and len(orders) == 366
    assert _cells(page, "events")["2024-02-10"] == "failed"
    store = RunStore(ledger)
    runs = store.runs("orders")
    store.close()
    for run in runs:
        run_page = (tmp_path / "out" / "runs" / run_file(run.run_id)).read_text()
        assert f'href="runs/{run_file(run.run_id)}"' in page
        assert run.run_id in run_page and "<h2>Steps</h2>" in run_page


def test_run_page_shows_the_bigquery_cost_of_each_step(tmp_path: Path) -> None:
    from etl_framework.job import StepRecord

    url = sqlite_ledger(tmp_path / "state.db")
    store = RunStore(url)
    try:
        costs = {"bq_jobs": 3, "bq_load_jobs": 1, "bq_bytes_processed": 2048, "bq_bytes_billed": 0}
        with_bq = add_run(
            store,
            "events",
            DAY,
            steps={
                "pre_execution_cleansing": StepRecord(0.1, 0, 0, True),
                "pipeline": StepRecord(1.5, 10, 10, True, costs),
            },
        )
        without = add_run(store, "orders", DAY, steps={"pipeline": StepRecord(1.0, 10, 10, True)})
    finally:
        store.close()
    write_report(read_history(url, runs=5), tmp_path / "out")
    page = (tmp_path / "out" / "runs" / run_file(with_bq)).read_text()
    assert "<th>BigQuery</th>" in page
    pipeline = page.split('data-step="pipeline">', 1)[1].split("</tr>", 1)[0]
    assert "3 jobs (1 load) processed 2.0 KiB billed 0 B slot-ms n/a" in pipeline
    cleansing = page.split('data-step="pre_execution_cleansing">', 1)[1].split("</tr>", 1)[0]
    assert '<td class="bq"></td>' in cleansing
    assert "BigQuery" not in (tmp_path / "out" / "runs" / run_file(without)).read_text()


def test_ledger_values_are_escaped_and_secrets_masked(
    ledger: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAREHOUSE_PASSWORD", SECRET)
    config = _config(tmp_path, ledger)
    result = CliRunner().invoke(cli, ["report", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    pages = [p.read_text() for p in (tmp_path / "out").rglob("*.html")]
    everything = "\n".join(pages)
    assert "alert(&#x27;x&#x27;)" in everything  # shown, as text
    assert "<script>alert" not in everything
    assert SECRET not in everything
    assert "login failed for etl:" in everything
    for page in pages:  # one inline script at most: the page's own, allowed by its hash
        assert page.count("<script>") == page.count(SCRIPT)
        assert 'http-equiv="Content-Security-Policy"' in page
        assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in page


def test_policy_allows_only_the_page_own_style_and_script() -> None:
    policy = content_security_policy(script=True)
    assert policy.startswith("default-src 'none'")
    import base64

    digest = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in policy
    assert "unsafe-inline" not in policy
    assert "script-src 'none'" in content_security_policy(script=False)


def test_run_file_names_cannot_escape_the_folder() -> None:
    assert run_file("0c9acc13-99a1-4d2a-8798-fc361d9c13c6") == (
        "0c9acc13-99a1-4d2a-8798-fc361d9c13c6.html"
    )
    hostile = run_file("../../etc/passwd")
    assert "/" not in hostile and hostile.startswith("run-")


def test_the_ledger_is_opened_read_only(ledger: str, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    files = set(tmp_path.iterdir())
    db.chmod(0o444)
    try:
        history = read_history(ledger)
    finally:
        db.chmod(0o644)
    write_report(history, tmp_path / "out")
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert set(tmp_path.iterdir()) == files | {tmp_path / "out"}  # no journal or WAL file


def test_a_missing_ledger_is_a_config_error_and_not_created(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no run ledger"):
        read_history(f"sqlite:///{tmp_path / 'none.db'}")
    assert not (tmp_path / "none.db").exists()
    result = CliRunner().invoke(
        cli, ["report", str(_config(tmp_path, f"sqlite:///{tmp_path / 'none.db'}")), "--out", "x"]
    )
    assert result.exit_code != 0 and not (tmp_path / "none.db").exists()


def test_run_page_shows_the_orchestrator_run(tmp_path: Path) -> None:
    """The Airflow run id (or Job name) that started a run; a ledger before migration
    0006 (no such column) still reads."""
    import sqlite3

    url = sqlite_ledger(tmp_path / "state.db")
    store = RunStore(url)
    try:
        airflow = add_run(
            store, "orders", DAY, orchestrator_run_id="scheduled__2024-02-10T03:00:00+00:00"
        )
        by_hand = add_run(store, "orders", DAY + dt.timedelta(days=1))
    finally:
        store.close()
    out = write_report(read_history(url), tmp_path / "out")
    page = (out.parent / "runs" / run_file(airflow)).read_text()
    assert "<th>orchestrator run</th><td>scheduled__2024-02-10T03:00:00+00:00</td>" in page
    page = (out.parent / "runs" / run_file(by_hand)).read_text()
    assert "<th>orchestrator run</th><td>none (started by hand)</td>" in page

    conn = sqlite3.connect(tmp_path / "state.db")
    conn.execute("ALTER TABLE etl_runs DROP COLUMN orchestrator_run_id")
    conn.commit()
    conn.close()
    history = read_history(url)
    assert [r.orchestrator_run_id for r in history.transfers[0].last_runs] == [None, None]
