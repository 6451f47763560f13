from __future__ import annotations

from typing import Any

import pytest

from etl_framework import ETLJob, Outcome, registry
from etl_framework.exceptions import RegistryError, UnknownTransferError


class Noop(ETLJob):
    def pre_execution_cleansing(self) -> None: ...
    def pipeline(self) -> None: ...
    def post_execution_cleanup(self, outcome: Outcome) -> None: ...


def test_register_and_get() -> None:
    cls = registry.register("noop_transfer")(type("NoopA", (Noop,), {}))
    assert registry.get("noop_transfer") is cls
    assert cls.transfer_name == "noop_transfer"
    assert "noop_transfer" in registry.names()


def test_duplicate_name_is_an_error() -> None:
    registry.register("dup_transfer")(type("A", (Noop,), {}))
    with pytest.raises(RegistryError, match="already registered"):
        registry.register("dup_transfer")(type("B", (Noop,), {}))


def test_unknown_transfer_lists_close_matches_and_is_a_keyerror() -> None:
    with pytest.raises(UnknownTransferError) as info:
        registry.get("demo_order")
    assert isinstance(info.value, KeyError)
    assert "demo_orders" in info.value.suggestions
    assert "did you mean 'demo_orders'" in str(info.value)
    assert info.value.exit_code == 2


def test_invalid_names_and_non_jobs_are_rejected() -> None:
    with pytest.raises(RegistryError, match="invalid transfer name"):
        registry.register("Bad Name")
    with pytest.raises(RegistryError, match="ETLJob subclass"):
        registry.register("not_a_job")(object)  # type: ignore[arg-type]


def test_discovery_finds_the_jobs_package() -> None:
    assert "demo_orders" in registry.names()


def test_extra_modules_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.delitem(sys.modules, "tests.support.sample_jobs", raising=False)
    registry.restore(({}, {}, False))
    monkeypatch.setenv("ETL_JOBS_MODULES", "tests.support.sample_jobs")
    assert "trace_job" in registry.names()


def test_an_extra_module_that_does_not_import_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from etl_framework.exceptions import ConfigError

    registry.restore(({}, {}, False))
    monkeypatch.setenv("ETL_JOBS_MODULES", "no_such_jobs_module")
    with pytest.raises(ConfigError, match="ETL_JOBS_MODULES: cannot import 'no_such_jobs_module'"):
        registry.names()


def _jobs_package(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``jobs`` package of its own: ``alpha`` registers itself, ``beta`` fails to import."""
    import sys

    package = tmp_path / "jobs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "alpha.py").write_text(
        "from etl_framework import ETLJob, register\n\n"
        "@register('alpha')\nclass Alpha(ETLJob):\n"
        "    def pre_execution_cleansing(self): ...\n"
        "    def pipeline(self): ...\n"
        "    def post_execution_cleanup(self, outcome): ...\n"
    )
    (package / "beta.py").write_text("raise ImportError('beta needs a missing client')\n")
    for name in [m for m in sys.modules if m == "jobs" or m.startswith("jobs.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("ETL_JOBS_MODULES", raising=False)
    registry.restore(({}, {}, False))


def test_get_imports_only_the_transfers_own_module(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    _jobs_package(tmp_path, monkeypatch)
    assert registry.get("alpha").__name__ == "Alpha"
    assert "jobs.alpha" in sys.modules
    assert "jobs.beta" not in sys.modules  # its sibling was never imported


def test_a_name_not_in_its_own_module_discovers_every_module(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _jobs_package(tmp_path, monkeypatch)
    with pytest.raises(UnknownTransferError) as info:
        registry.get("alphx")
    assert "did you mean 'alpha'" in str(info.value)
    assert registry.import_errors() == {"jobs.beta": "beta needs a missing client"}


def test_is_known_looks_where_get_looks(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    _jobs_package(tmp_path, monkeypatch)
    assert registry.is_known("alpha")
    assert "jobs.beta" not in sys.modules
    assert not registry.is_known("gamma")  # then every module is looked at
    assert "jobs.beta" in registry.import_errors()
