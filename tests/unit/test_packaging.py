"""setup.py ships only files that exist: every package-data pattern matches one."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _package_data() -> dict[str, list[str]]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "package_data":
            value: dict[str, list[str]] = ast.literal_eval(node.value)
            return value
    raise AssertionError("setup.py has no package_data")


def test_every_package_data_pattern_matches_a_file() -> None:
    data = _package_data()
    assert data
    unmatched = [
        f"{package}: {pattern}"
        for package, patterns in data.items()
        for pattern in patterns
        if not any((ROOT / package.replace(".", "/")).glob(pattern))
    ]
    assert unmatched == []
