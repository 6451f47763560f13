"""Shell steps: own environment, output logged line by line, exit codes mapped."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from etl_framework.exceptions import ConfigError, ExitCode, OutOfSpaceError, TransientError
from etl_framework.steps.shell import ShellStepError, run_script


def script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "step.sh"
    path.write_text("set -u\n" + body)
    return ["bash", str(path)]


def test_output_is_logged_line_by_line_with_its_own_environment(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOB_SECRET", "s3cr3t")
    args = script(
        tmp_path, 'echo "root=$ARCH_ROOT"\necho "secret=${JOB_SECRET:-none}"\necho err >&2\n'
    )
    with caplog.at_level(logging.INFO):
        lines = run_script(args, env={"ARCH_ROOT": "/mnt/a"}, logger=logging.getLogger("t"))
    assert lines == 3
    logged = [r.getMessage().split(": ", 1)[1] for r in caplog.records if r.name == "t"]
    assert logged == ["root=/mnt/a", "secret=none", "err"]


@pytest.mark.parametrize(
    ("code", "error", "exit_code"),
    [
        (1, ShellStepError, ExitCode.FAILED),
        (3, ConfigError, ExitCode.CONFIG),
        (5, OutOfSpaceError, ExitCode.OUT_OF_SPACE),
        (75, TransientError, ExitCode.TRANSIENT),
        (42, ShellStepError, ExitCode.FAILED),
    ],
)
def test_exit_codes_are_mapped(tmp_path: Path, code: int, error: type, exit_code: int) -> None:
    with pytest.raises(error) as caught:
        run_script(script(tmp_path, f"echo working\nexit {code}\n"))
    assert caught.value.exit_code == exit_code


def test_a_killed_script_names_the_signal(tmp_path: Path) -> None:
    with pytest.raises(ShellStepError, match="killed by SIGKILL"):
        run_script(script(tmp_path, "kill -KILL $$\n"))
