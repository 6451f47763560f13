from __future__ import annotations

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
