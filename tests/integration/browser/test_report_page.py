"""The report page in a real headless browser (Playwright driving Debian's chromium).

The demo runs three delta days through the real ``pipeline``; a hostile failed run is
added; ``etlctl report`` writes the page. The page must load from a file without a
console error (a CSP violation is one), show the demo's covered days, and open a
run's steps when the run is clicked.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from etl_framework.state import RunStore
from tests.support.pipeline import REPO, pipeline_env, run_pipeline
from tests.support.report_ledger import HOSTILE_ERROR, add_run

CHROMIUM = Path("/usr/bin/chromium")
ETLCTL = [sys.executable, "-c", "from etl_framework.admin import main; main()"]
DAYS = ("20240210", "20240211", "20240213")

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
if not CHROMIUM.exists():  # pragma: no cover - script/setup/browser installs it
    pytest.skip("no /usr/bin/chromium: run script/setup/browser", allow_module_level=True)


@pytest.fixture
def report(tmp_path: Path) -> Path:
    (tmp_path / "jobs" / "config").mkdir(parents=True)
    shutil.copy(REPO / "jobs" / "config" / "local.yaml", tmp_path / "jobs" / "config")
    for day in DAYS:
        result = run_pipeline([day, "demo_orders", "delta", "jobs/config/local.yaml"], tmp_path)
        assert result.returncode == 0, result.stderr
    store = RunStore(f"sqlite:///{tmp_path / '.etl' / 'state.db'}")
    try:
        add_run(store, "demo_orders", dt.date(2024, 2, 14), status="failed", error=HOSTILE_ERROR)
    finally:
        store.close()
    result = subprocess.run(
        [*ETLCTL, "report", "jobs/config/local.yaml", "--out", "site"],
        cwd=tmp_path,
        env=pipeline_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return tmp_path / "site" / "index.html"


def test_page_loads_shows_coverage_and_opens_a_run(report: Path) -> None:
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()

            def console(message: Any) -> None:
                if message.type in ("error", "warning"):
                    problems.append(f"{message.type}: {message.text}")

            page.on("console", console)
            page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
            page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
            page.goto(report.as_uri())
            page.wait_for_load_state("load")

            calendar = page.locator('.calendar[data-transfer="demo_orders"]')
            for day in ("2024-02-10", "2024-02-11", "2024-02-13"):
                cell = calendar.locator(f'[data-day="{day}"]')
                assert cell.get_attribute("data-status") == "succeeded"
                assert "s-succeeded" in (cell.get_attribute("class") or "")
                color = cell.evaluate("e => getComputedStyle(e).backgroundColor")
                assert color == "rgb(45, 164, 78)"  # the inline stylesheet applied (CSP hash)
            assert calendar.locator('[data-day="2024-02-12"]').get_attribute("data-status") == (
                "never"
            )
            assert calendar.locator('[data-day="2024-02-14"]').get_attribute("data-status") == (
                "failed"
            )
            # the hostile error is shown as text, never run
            assert page.get_by_text("<script>alert('x')</script>", exact=False).count() == 1

            # the script runs (CSP hash): "only failed runs" hides the succeeded ones
            page.check("#failed-only")
            assert page.locator("tr.run:visible").count() == 1
            page.uncheck("#failed-only")
            assert page.locator("tr.run:visible").count() == 4

            # clicking a run's row (not its link) opens its steps
            row = page.locator('tr.run[data-status="succeeded"]').first
            row.locator("td").nth(3).click()
            page.wait_for_url("**/runs/*.html")
            steps = page.locator("tr.step")
            assert [steps.nth(i).get_attribute("data-step") for i in range(steps.count())] == [
                "pre_execution_cleansing",
                "pipeline",
                "post_execution_cleanup",
            ]
            assert "succeeded" in steps.nth(1).inner_text()
        finally:
            browser.close()
    assert problems == []
