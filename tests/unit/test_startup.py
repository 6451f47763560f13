"""Cyclic GC around a ``pipeline`` process: deferred while it starts, frozen at exit.

Run in child processes: freezing the test process's own heap would keep its garbage.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

LOCAL_CONFIG = Path(__file__).resolve().parents[2] / "jobs" / "config" / "local.yaml"


def _child(code: str, *args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
    )
    return proc.stdout.strip()


def test_collection_is_deferred_then_resumed_with_start_up_frozen() -> None:
    out = _child(
        """
        import gc
        from etl_framework import startup
        startup.defer_collection()
        deferred = gc.isenabled()
        import sqlalchemy  # start-up's imports
        startup.resume_collection()
        print(deferred, gc.isenabled(), gc.get_freeze_count() > 10_000)
        """
    )
    assert out == "False True True"


def test_resume_without_defer_leaves_the_collector_alone() -> None:
    # a process that imports the runner itself (tests, an Airflow worker)
    out = _child(
        """
        import gc
        from etl_framework import startup
        gc.disable()  # the process's own choice
        startup.resume_collection()
        print(gc.isenabled(), gc.get_freeze_count())
        """
    )
    assert out == "False 0"


def test_the_console_script_runs_its_job_with_collection_resumed(tmp_path: Path) -> None:
    # pipeline's main() defers collection; the runner resumes it before the job runs
    out = _child(
        """
        import gc, sys
        from etl_framework import runner
        seen = []
        real = runner._run_leased
        def spy(*args, **kwargs):
            seen.append((gc.isenabled(), gc.get_freeze_count() > 0))
            return real(*args, **kwargs)
        runner._run_leased = spy
        sys.argv = ["pipeline", "20240101", "demo_orders", "truncate", sys.argv[1]]
        from etl_framework.cli import main
        try:
            main()
        except SystemExit as exc:
            print(exc.code, seen, gc.isenabled())
        """,
        str(LOCAL_CONFIG),
        cwd=tmp_path,
    )
    assert out == "0 [(True, True)] True"
