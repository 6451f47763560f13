"""The run summary written to the termination log: valid JSON, <= 4096 bytes, never raises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etl_framework import termination
from etl_framework.termination import (
    ENV_TERMINATION_LOG,
    MAX_TERMINATION_MESSAGE_BYTES,
    fit_summary,
    write_termination_log,
)

SUMMARY = {
    "transfer": "demo_orders",
    "status": "failed",
    "exit_code": 1,
    "rows_read": 10,
    "rows_written": 0,
    "error": "GuardError: " + "x" * 10_000,
    "steps": {f"step_{i}": float(i) for i in range(200)},
    "metrics": {"late_rows": 3.0},
}


def test_short_summary_is_written_as_is(tmp_path: Path) -> None:
    path = tmp_path / "termination-log"
    small = {"status": "succeeded", "exit_code": 0, "rows_written": 5}
    assert write_termination_log(small, path) is True
    assert json.loads(path.read_text()) == small


def test_long_summary_is_shortened_but_stays_json(tmp_path: Path) -> None:
    path = tmp_path / "termination-log"
    assert write_termination_log(SUMMARY, path) is True
    data = path.read_bytes()
    assert len(data) <= MAX_TERMINATION_MESSAGE_BYTES
    parsed = json.loads(data)
    assert parsed["status"] == "failed" and parsed["exit_code"] == 1
    assert parsed["rows_read"] == 10
    assert parsed["error"].startswith("GuardError: xxx") and parsed["error"].endswith("...")
    assert "steps" not in parsed


def test_multibyte_text_is_measured_in_bytes() -> None:
    fitted = fit_summary({"status": "failed", "error": "é" * 5000}, limit=1000)
    encoded = json.dumps(fitted, separators=(",", ":"), ensure_ascii=False).encode()
    assert len(encoded) <= 1000
    assert fitted["status"] == "failed"


def test_default_path_is_skipped_outside_a_pod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_TERMINATION_LOG, raising=False)
    monkeypatch.setattr(termination, "DEFAULT_TERMINATION_LOG", str(tmp_path / "termination-log"))
    assert write_termination_log({"status": "succeeded"}) is False
    assert not (tmp_path / "termination-log").exists()
    (tmp_path / "termination-log").touch()  # what the kubelet does in a pod
    assert write_termination_log({"status": "succeeded"}) is True
    assert json.loads((tmp_path / "termination-log").read_text()) == {"status": "succeeded"}


def test_env_var_path_is_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "summary.json"
    monkeypatch.setenv(ENV_TERMINATION_LOG, str(target))
    assert write_termination_log({"status": "failed", "exit_code": 1}) is True
    assert json.loads(target.read_text())["exit_code"] == 1


def test_an_unwritable_path_returns_false(tmp_path: Path) -> None:
    assert write_termination_log({"status": "x"}, tmp_path / "missing-dir" / "log") is False


def test_values_that_are_not_json_are_stringified(tmp_path: Path) -> None:
    path = tmp_path / "log"
    write_termination_log({"when": Path("/x")}, path)
    assert json.loads(path.read_text()) == {"when": "/x"}


def _encoded_size(value: dict[str, object]) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


@pytest.mark.parametrize(
    "error",
    [
        "é" * 5000,  # 2 bytes each in UTF-8
        '"' * 3000 + "\n" * 3000,  # 2 bytes each as JSON escapes
        "\x01" * 3000,  # 6 bytes each: \\u0001
        "ok " + "€\\\t" * 2000,  # 3 + 2 + 2 bytes
    ],
)
def test_shortened_error_keeps_as_much_as_fits(error: str) -> None:
    summary = {"status": "failed", "exit_code": 1, "error": error}
    fitted = fit_summary(summary)

    assert _encoded_size(fitted) <= MAX_TERMINATION_MESSAGE_BYTES
    kept = fitted["error"].removesuffix("...")
    assert fitted["error"].endswith("...") and error.startswith(kept)
    # the next longer cut would not have fitted: nothing was cut needlessly
    longer = next(
        error[:n].rstrip() for n in range(len(kept) + 1, len(error)) if error[:n].rstrip() != kept
    )
    one_more = longer + "..."
    assert _encoded_size({**fitted, "error": one_more}) > MAX_TERMINATION_MESSAGE_BYTES
    assert fitted["status"] == "failed" and fitted["exit_code"] == 1
