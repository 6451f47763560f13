"""The transfer registry: TRANSFER_NAME -> job class.

Transfers register explicitly with ``@register("name")``; registering a name twice
is an error. `discover()` imports every module of the top-level ``jobs`` package
and every entry point in the group ``etl_framework.jobs`` (for transfers that live
in other packages). `get(name)` first tries the modules named by ``$ETL_JOBS_MODULES``
and ``jobs.<name>``, and discovers everything only when ``name`` is not there.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import os
import pkgutil
import re
from collections.abc import Callable
from typing import Any, TypeVar

from etl_framework.exceptions import ConfigError, ETLError, RegistryError, UnknownTransferError
from etl_framework.job import ETLJob

ENTRY_POINT_GROUP = "etl_framework.jobs"
ENV_JOBS_MODULES = "ETL_JOBS_MODULES"
"""Comma-separated extra modules to import for transfers (no packaging needed)."""
JOBS_PACKAGE = "jobs"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

J = TypeVar("J", bound=type[ETLJob[Any]])

_REGISTRY: dict[str, type[ETLJob[Any]]] = {}
_IMPORT_ERRORS: dict[str, str] = {}
_discovered = False


def register(name: str) -> Callable[[J], J]:
    """Class decorator: make ``cls`` runnable as ``pipeline DATE <name> ...``."""
    if not NAME_PATTERN.match(name):
        raise RegistryError(
            f"invalid transfer name {name!r}: use lower case letters, digits and _ "
            "(starting with a letter)"
        )

    def decorator(cls: J) -> J:
        if not (isinstance(cls, type) and issubclass(cls, ETLJob)):
            raise RegistryError(f"@register({name!r}) must decorate an ETLJob subclass")
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not cls:
            raise RegistryError(
                f"transfer {name!r} is already registered by "
                f"{existing.__module__}.{existing.__qualname__}"
            )
        cls.transfer_name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def discover() -> None:
    """Import the ``jobs`` package's modules and the entry-point group, once."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    try:
        package = importlib.import_module(JOBS_PACKAGE)
    except ModuleNotFoundError as exc:
        if exc.name != JOBS_PACKAGE:
            raise
    else:
        for info in pkgutil.iter_modules(package.__path__, prefix=f"{JOBS_PACKAGE}."):
            _import_quietly(info.name, functools.partial(importlib.import_module, info.name))
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        _import_quietly(entry_point.value, entry_point.load)
    _import_extra_modules()


def _import_extra_modules() -> None:
    for module in extra_modules():
        try:
            importlib.import_module(module)
        except ETLError:
            raise
        except Exception as exc:
            # Named explicitly by the user: a module that does not import is an error.
            raise ConfigError(
                f"{ENV_JOBS_MODULES}: cannot import {module!r}: {import_failure(exc)}"
            ) from None


def _import_likely(name: str) -> None:
    """Import the modules most likely to define transfer ``name``, before every module:
    those of ``$ETL_JOBS_MODULES``, then ``jobs.<name>`` if there is one."""
    _import_extra_modules()
    if name in _REGISTRY or not NAME_PATTERN.match(name):
        return
    module = f"{JOBS_PACKAGE}.{name}"
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError as exc:
        if exc.name != JOBS_PACKAGE:
            raise
        return
    if spec is not None:
        _import_quietly(module, functools.partial(importlib.import_module, module))


def extra_modules() -> list[str]:
    """The modules named by ``$ETL_JOBS_MODULES``, in order."""
    return [m for m in (m.strip() for m in os.environ.get(ENV_JOBS_MODULES, "").split(",")) if m]


def searched() -> str:
    """Where transfers are looked for, for messages: package, entry points, env modules."""
    modules = extra_modules()
    extra = f"{ENV_JOBS_MODULES}={','.join(modules)}" if modules else f"{ENV_JOBS_MODULES} unset"
    return f"the {JOBS_PACKAGE!r} package, entry points {ENTRY_POINT_GROUP!r}, {extra}"


def import_failure(exc: BaseException) -> str:
    """One line saying why a module did not import (a syntax error with file and line)."""
    if isinstance(exc, SyntaxError):
        where = f"{exc.filename or '?'} line {exc.lineno}" if exc.lineno else exc.filename or ""
        return f"{type(exc).__name__} in {where}: {exc.msg}"
    text = " ".join(str(exc).split())
    return text if isinstance(exc, ImportError) else f"{type(exc).__name__}: {text}"


def _import_quietly(what: str, load: Callable[[], object]) -> None:
    """Import one transfer module; a module that fails to import only hides itself.

    The error (a missing optional dependency, a syntax error...) is kept and shown if
    the user then asks for a transfer we do not know, so one broken job never breaks
    the others.
    """
    try:
        load()
    except ETLError:
        raise
    except Exception as exc:
        _IMPORT_ERRORS[what] = import_failure(exc)


def get(name: str) -> type[ETLJob[Any]]:
    """The job class registered as ``name``; UnknownTransferError lists close names.

    Before importing every transfer module, it looks where ``name`` most likely is
    (`_import_likely`): a run then imports its own job's module and its clients only,
    not every job's. A name found nowhere there leads to the full `discover`.
    """
    if name not in _REGISTRY and not _discovered:
        _import_likely(name)
    if name not in _REGISTRY:
        discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownTransferError(
            name, _REGISTRY, import_errors=_IMPORT_ERRORS, searched=searched()
        ) from None


def is_known(name: str) -> bool:
    """Whether some module registers ``name`` (found as `get` finds it)."""
    try:
        get(name)
    except UnknownTransferError:
        return False
    return True


def names() -> list[str]:
    discover()
    return sorted(_REGISTRY)


def import_errors() -> dict[str, str]:
    """Transfer modules that could not be imported, with the reason."""
    discover()
    return dict(_IMPORT_ERRORS)


def snapshot() -> tuple[dict[str, type[ETLJob[Any]]], dict[str, str], bool]:
    """The registry's state, for tests that register throw-away transfers."""
    return dict(_REGISTRY), dict(_IMPORT_ERRORS), _discovered


def restore(state: tuple[dict[str, type[ETLJob[Any]]], dict[str, str], bool]) -> None:
    global _discovered
    _REGISTRY.clear()
    _REGISTRY.update(state[0])
    _IMPORT_ERRORS.clear()
    _IMPORT_ERRORS.update(state[1])
    _discovered = state[2]
