"""Hostile input: run `pipeline` / `etlctl` as real processes under a memory cap and
measure them; configs built to exhaust a naive reader."""

from __future__ import annotations

import os
import resource
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.pipeline import pipeline_env

ADDRESS_SPACE_CAP = 1024 * 1024 * 1024
"""RLIMIT_AS of the child: a bomb that grows memory dies instead of eating the machine."""


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    max_rss_mb: float
    seconds: float

    @property
    def error_lines(self) -> list[str]:
        return self.stderr.splitlines()


_PEAK_ENV = "ETL_TEST_PEAK_FILE"
_MEASURED = """
import atexit, os, re, runpy, sys

def _peak():
    status = open("/proc/self/status").read()
    with open(os.environ["ETL_TEST_PEAK_FILE"], "w") as out:
        out.write(re.search(r"VmHWM:\\s+(\\d+)", status).group(1))

atexit.register(_peak)
module = sys.argv[1]
sys.argv = [module, *sys.argv[2:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""
"""Runs the module and writes its peak RSS (VmHWM, kB) at exit. Not ``ru_maxrss``: that
keeps the high-water mark of the process before its exec, i.e. the forking pytest's
own size, which grows over a long test session."""


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))


def run_capped(
    args: list[str], cwd: Path, *, module: str = "etl_framework", timeout: float = 30, **env: str
) -> Outcome:
    """``python -m module *args`` with RLIMIT_AS set; peak RSS as the child measured it."""
    out_path, err_path = cwd / ".capped.out", cwd / ".capped.err"
    peak_path = cwd / ".capped.peak"
    peak_path.unlink(missing_ok=True)
    started = time.monotonic()
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _MEASURED, module, *args],
            cwd=cwd,
            env=pipeline_env(**env, **{_PEAK_ENV: str(peak_path)}),
            stdout=out,
            stderr=err,
            preexec_fn=_cap_memory,
        )
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - started > timeout:
            proc.kill()
            _pid, status, _usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            raise AssertionError(f"{args} did not finish in {timeout}s")
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not reap it again
    return Outcome(
        proc.returncode,
        out_path.read_text(),
        err_path.read_text(),
        int(peak_path.read_text()) / 1024 if peak_path.exists() else usage.ru_maxrss / 1024,
        time.monotonic() - started,
    )


def run_python(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python *args`` with the pipeline's environment (e.g. ``-m etl_framework.deploy``)."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=pipeline_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def ledger_rows(state_db: Path) -> int | None:
    """Runs in a SQLite ledger file; None when the file was never created."""
    if not state_db.exists():
        return None
    with sqlite3.connect(state_db) as conn:
        return int(conn.execute("SELECT count(*) FROM etl_runs").fetchone()[0])


def billion_laughs() -> str:
    """A YAML whose aliases expand to 9**9 values (about 387 million): the config reader
    must refuse it by count, not expand it."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"
