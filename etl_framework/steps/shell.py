"""Run a shell script as a step of a job (the BDRC seed's bash task).

The script gets its own environment (only what the step passes, plus ``PATH``: the
job's secrets do not leak into it), its output is logged line by line as it comes,
and its exit code is mapped to ours so orchestrators retry the same way::

    run_script(["bash", "sync_one_work.sh", work_id], env={"ARCH_ROOT": "/mnt/archive"},
               logger=self.context.logger)

=============  ============================================================
script exits   raises
=============  ============================================================
0              nothing
2, 3           `ConfigError` (exit 3: the script refused its input)
4              `TransientError` (exit 75): busy, retry later
5              `OutOfSpaceError` (exit 5)
75             `TransientError` (exit 75)
other          `ShellStepError` (exit 1), naming the code
=============  ============================================================

A step killed by a signal is a `ShellStepError` naming the signal.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from etl_framework.exceptions import (
    ConfigError,
    ETLError,
    JobError,
    OutOfSpaceError,
    TransientError,
)

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


class ShellStepError(JobError):
    """A shell step exited with a code that means failure."""

    def __init__(self, command: str, code: int) -> None:
        self.command = command
        self.code = code
        if code < 0:
            reason = f"was killed by {signal.Signals(-code).name}"
        else:
            reason = f"exited with {code}"
        super().__init__(f"shell step {command!r} {reason}")


def mapped_error(command: str, code: int) -> ETLError | None:
    """Our error for the script's exit code (None: success)."""
    if code == 0:
        return None
    if code in (2, 3):
        return ConfigError(f"shell step {command!r} refused its input (exit {code})")
    if code == 5:
        return OutOfSpaceError(f"shell step {command!r}", "out of space", f"exit {code}")
    if code in (4, 75):
        return TransientError(f"shell step {command!r} asks for a retry (exit {code})")
    return ShellStepError(command, code)


def run_script(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    cwd: str | None = None,
) -> int:
    """Run ``args``, log each output line (stdout and stderr merged) at INFO, and raise
    the mapped error unless it exits 0. Returns the number of lines logged."""
    log = logger or logging.getLogger(__name__)
    command = " ".join(args[:2])
    child_env = {"PATH": os.environ.get("PATH", DEFAULT_PATH), **dict(env or {})}
    lines = 0
    with subprocess.Popen(
        list(args),
        env=child_env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        bufsize=1,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.info("%s: %s", command, line.rstrip("\n"))
            lines += 1
        code = proc.wait()
    error = mapped_error(command, code)
    if error is not None:
        raise error
    return lines


__all__ = ["ShellStepError", "mapped_error", "run_script"]
