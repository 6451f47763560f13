"""Cyclic garbage collection around the one run of a ``pipeline`` process.

Start-up imports SQLAlchemy, pydantic, psycopg and the job modules: tens of thousands
of long-lived objects that the cyclic collector would scan again and again while they
load, and once more when the interpreter tears down at exit. The console entry point
defers collection while it starts (`defer_collection`); the runner resumes it before
the job runs (`resume_collection`), with everything loaded so far frozen (kept out of
every later scan; freed as usual when its last reference goes); at exit
(`freeze_for_exit`) the whole heap is frozen, so teardown skips that last scan.
About 40 ms at start and 100 ms at exit of a run (``bench/fixed_cost.py``).

Only the console script calls these: a process that imports the runner itself (tests,
an Airflow worker) keeps its own collector settings, since `resume_collection` acts
only after `defer_collection` disabled the collector.
"""

from __future__ import annotations

import gc

_deferred = False


def defer_collection() -> None:
    """Disable cyclic collection until `resume_collection` (if it is enabled now)."""
    global _deferred
    if gc.isenabled():
        gc.disable()
        _deferred = True


def resume_collection() -> None:
    """Freeze what start-up loaded and collect cycles again (after `defer_collection`)."""
    global _deferred
    if _deferred:
        _deferred = False
        gc.freeze()
        gc.enable()


def freeze_for_exit() -> None:
    """The process is about to exit: nothing left is worth a last scan at teardown."""
    gc.freeze()
