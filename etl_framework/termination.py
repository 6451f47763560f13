"""The run summary as the container's termination message (``/dev/termination-log``).

Kubernetes keeps at most 4096 bytes of that file and shows them in
``kubectl describe pod`` (``Last State: Terminated ... Message:``) and in the Pod's
``status.containerStatuses[].state.terminated.message``, where the launcher
(`etl_framework.deploy.outcome.parse_summary`) and Airflow read them. `write_termination_log`
writes the summary as compact JSON that always parses: when it is too long, the long
string values (the error text first) are shortened and the mappings of step timings and
metrics are dropped, never cut mid-way.

Every string in it (keys too) goes through `etl_framework.redaction.redact_value` first,
before it is encoded or shortened: no secret, nor a cut-off start of one, reaches the file.

Writing is best effort: a run's exit code must not change because the summary could
not be written, so failures are reported as False, never raised. Outside a pod the
default path does not exist and nothing is written (set ``$ETL_TERMINATION_LOG`` to
write elsewhere).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from etl_framework import redaction

DEFAULT_TERMINATION_LOG = "/dev/termination-log"
ENV_TERMINATION_LOG = "ETL_TERMINATION_LOG"
"""Overrides the path (tests, or a pod with a custom ``terminationMessagePath``)."""
MAX_TERMINATION_MESSAGE_BYTES = 4096
"""The kubelet's limit per container."""
_ELLIPSIS = "..."
_MIN_KEEP = 8
_DROP_FIRST = ("steps", "metrics", "step_seconds")


def termination_log_path() -> str:
    """``$ETL_TERMINATION_LOG`` or `DEFAULT_TERMINATION_LOG`."""
    return os.environ.get(ENV_TERMINATION_LOG) or DEFAULT_TERMINATION_LOG


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)


def _size(value: Mapping[str, Any]) -> int:
    return len(_dumps(value).encode("utf-8"))


def _shortened(summary: dict[str, Any], key: str, limit: int) -> str:
    """The longest ``text[:n] + "..."`` for ``summary[key]`` that keeps it within ``limit``.

    Measured on the encoded JSON: a character may take 1-4 bytes in UTF-8, or up to 6
    as a JSON escape (``\"``, ``\n``, ``\u0001``), so the kept prefix is found by a
    binary search rather than computed from the excess. Keeps at least
    `_MIN_KEEP` characters even if that does not fit (other values are cut next).
    """
    text: str = summary[key]
    trial = dict(summary)

    def candidate(keep: int) -> str:
        return text[:keep].rstrip() + _ELLIPSIS

    def fits(keep: int) -> bool:
        trial[key] = candidate(keep)
        return _size(trial) <= limit

    low, high = _MIN_KEEP, len(text) - 1  # shorter than the text, or it would not shrink
    if not fits(low):
        return candidate(low)
    while low < high:  # invariant: `low` fits
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return candidate(low)


def fit_summary(
    summary: Mapping[str, Any], limit: int = MAX_TERMINATION_MESSAGE_BYTES
) -> dict[str, Any]:
    """A copy of ``summary`` whose compact JSON fits in ``limit`` bytes.

    Shortens the longest string values (keeping their start, marked with ``...``), then
    drops nested mappings/lists (``steps``, ``metrics`` first), then whole keys from the
    end. Numbers, status and exit code survive as long as anything does.
    """
    out: dict[str, Any] = dict(summary)
    if _size(out) <= limit:
        return out
    for key in _DROP_FIRST:
        if key in out and _size(out) > limit:
            out.pop(key)
    while _size(out) > limit:
        strings = [(len(v), k) for k, v in out.items() if isinstance(v, str) and len(v) > 16]
        if not strings:
            break
        _, key = max(strings)
        out[key] = _shortened(out, key, limit)
    for key in [k for k, v in out.items() if isinstance(v, Mapping | list)]:
        if _size(out) <= limit:
            break
        out.pop(key)
    while _size(out) > limit and out:
        out.pop(next(reversed(out)))
    return out


def write_termination_log(
    summary: Mapping[str, Any], path: str | os.PathLike[str] | None = None
) -> bool:
    """Write ``summary`` as JSON (<= 4096 bytes) to the termination log.

    Args:
        summary: JSON-serialisable run summary (e.g. ``dataclasses.asdict(RunSummary)``);
            non-JSON values are written with ``str()``.
        path: Where to write; created if needed. None: ``$ETL_TERMINATION_LOG`` if set,
            else `DEFAULT_TERMINATION_LOG` but only if it exists (the kubelet creates it
            in a pod; elsewhere nothing is written).

    Returns:
        True if the summary was written, False if it was skipped or failed.
    """
    if path is None:
        target = Path(termination_log_path())
        if not os.environ.get(ENV_TERMINATION_LOG) and not target.exists():
            return False
    else:
        target = Path(path)
    try:
        target.write_text(_dumps(fit_summary(redaction.redact_value(summary))), encoding="utf-8")
    except OSError:
        return False
    return True


__all__ = [
    "DEFAULT_TERMINATION_LOG",
    "ENV_TERMINATION_LOG",
    "MAX_TERMINATION_MESSAGE_BYTES",
    "fit_summary",
    "termination_log_path",
    "write_termination_log",
]
