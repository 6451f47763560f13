"""Config bombs against the real `pipeline` process: exit 3, one line, memory flat.

Each process runs under RLIMIT_AS (1 GiB): before the limits, a 342-byte "billion
laughs" took the process to that cap (MemoryError, exit 1, traceback) and deep
nesting ended in RecursionError.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.hostile import billion_laughs, run_capped

MAX_RSS_MB = 150
MAX_SECONDS = 10  # process start included, on a shared 2-core machine (in-process: < 1 s)


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _config_with_state(tmp_path: Path, body: str, name: str = "config.yaml") -> str:
    return _write(tmp_path, name, f"state: {{url: 'sqlite:///{tmp_path / 'state.db'}'}}\n{body}")


CASES = {
    "billion laughs": (
        lambda t: _write(t, "laughs.yaml", billion_laughs()),
        "expands to more than 100,000 values",
    ),
    "deep YAML": (
        lambda t: _write(t, "deep.yaml", "x: " + "[" * 20000 + "]" * 20000 + "\n"),
        "nested deeper than 50 levels",
    ),
    "deep JSON": (
        lambda t: _write(t, "deep.json", '{"x": ' + "[" * 200000 + "]" * 200000 + "}"),
        "nested deeper than 50 levels",
    ),
    "/dev/zero as CONFIG": (lambda t: "/dev/zero", "config /dev/zero is larger than 1 MiB"),
    "a 2 MiB config": (
        lambda t: _write(t, "big.yaml", "# padding\n" * (200 * 1024)),
        "is larger than 1 MiB",
    ),
    "${file:/dev/zero}": (
        lambda t: _config_with_state(t, "transfers: {x: {p: '${file:/dev/zero}'}}\n"),
        "transfers.x.p: secret file /dev/zero is not a regular file",
    ),
    "${file:<directory>}": (
        lambda t: _config_with_state(t, f"transfers: {{x: {{p: '${{file:{t}}}'}}}}\n"),
        "is a directory",
    ),
    "${file:<fifo>}": (
        lambda t: (
            os.mkfifo(t / "fifo"),
            _config_with_state(t, f"transfers: {{x: {{p: '${{file:{t / 'fifo'}}}'}}}}\n"),
        )[1],
        "fifo is not a regular file",
    ),
    "${file:<2 MiB file>}": (
        lambda t: (
            (t / "big.txt").write_bytes(b"x" * (2 * 1024 * 1024)),
            _config_with_state(t, f"transfers: {{x: {{p: '${{file:{t / 'big.txt'}}}'}}}}\n"),
        )[1],
        "big.txt is larger than 1 MiB",
    ),
    "duplicate key": (
        lambda t: _config_with_state(t, "transfers: {}\nlogging: {}\ntransfers: {}\n"),
        "line 4: duplicate key 'transfers'",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_config_bomb_is_refused_with_exit_3_in_one_line_and_flat_memory(
    tmp_path: Path, case: str
) -> None:
    make, message = CASES[case]
    location = make(tmp_path)
    result = run_capped(["20240115", "trace_job", "truncate", location], cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    [line] = result.error_lines
    assert line.startswith("pipeline: error: ") and message in line, line
    assert result.max_rss_mb < MAX_RSS_MB, result.max_rss_mb
    assert result.seconds < MAX_SECONDS
    assert not (tmp_path / "state.db").exists()  # the ledger was never touched
