"""Transfers from other installed packages arrive through the entry-point group."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from etl_framework import registry


def test_transfers_from_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "acme_transfers.py").write_text(
        "from etl_framework import ETLJob, register\n"
        "@register('acme_sales')\n"
        "class AcmeSales(ETLJob):\n"
        "    def pre_execution_cleansing(self): pass\n"
        "    def pipeline(self): pass\n"
        "    def post_execution_cleanup(self, outcome): pass\n"
    )
    dist = tmp_path / "acme_transfers-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-transfers\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[etl_framework.jobs]\nacme = acme_transfers\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "acme_transfers", raising=False)
    registry.restore(({}, {}, False))
    assert "acme_sales" in registry.names()


def test_a_job_module_with_a_missing_dependency_hides_only_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_transfers.py").write_text("import not_installed_sdk_xyz\n")
    dist = tmp_path / "broken_transfers-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-transfers\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[etl_framework.jobs]\nbroken = broken_transfers\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.restore(({}, {}, False))
    with pytest.raises(KeyError) as info:
        registry.get("broken_transfer")
    assert "not_installed_sdk_xyz" in str(info.value)
