"""The ledger schema's alembic revisions: current, history, upgrade and downgrade to a
revision (``etlctl db ...``). An unknown revision is a `UsageError` (exit 2).

`head_revisions` reads the head from the migration files without alembic: every run
checks that the ledger schema is current, and importing alembic and building its script
directory for that costs ~0.1 s; the files' ``revision`` / ``down_revision`` and one
``SELECT`` of the version table answer the same question. alembic is still what creates
and upgrades the schema."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import OperationalError, ProgrammingError

from etl_framework.exceptions import UsageError

if TYPE_CHECKING:
    from etl_framework.state.store import RunStore

VERSION_TABLE = "etl_alembic_version"
VERSIONS_DIR = Path(__file__).parent / "migrations" / "versions"
_ASSIGNMENT = re.compile(
    r"^(down_revision|revision)\s*(?::[^=]*)?=\s*(?:[\"']([^\"']+)[\"']|None)", re.MULTILINE
)


@functools.cache
def head_revisions(directory: Path = VERSIONS_DIR) -> frozenset[str]:
    """The revisions no other migration names as its ``down_revision``."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in directory.glob("*.py"):
        found = dict(
            (name, value) for name, value in _ASSIGNMENT.findall(path.read_text(encoding="utf-8"))
        )
        if found.get("revision"):
            revisions.add(found["revision"])
            if found.get("down_revision"):
                parents.add(found["down_revision"])
    return frozenset(revisions - parents)


@dataclass(frozen=True)
class Revision:
    revision: str
    down_revision: str | None
    message: str
    is_head: bool
    is_current: bool

    def line(self) -> str:
        marks = [m for m, on in (("head", self.is_head), ("current", self.is_current)) if on]
        text = f"{self.down_revision or '<base>'} -> {self.revision}"
        if marks:
            text += f" ({', '.join(marks)})"
        return f"{text}: {self.message}"


def current(store: RunStore) -> list[str]:
    """The revisions the ledger is at (empty: no schema yet)."""
    from alembic.runtime.migration import MigrationContext

    from etl_framework.state.store import _unreachable

    try:
        with store.engine.connect() as connection:
            heads = MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE}
            ).get_current_heads()
            connection.rollback()
    except (OperationalError, ProgrammingError) as exc:
        raise _unreachable(exc) from None
    return sorted(heads)


def history(store: RunStore) -> list[Revision]:
    """Every migration shipped in the package, newest first."""
    from alembic.script import ScriptDirectory

    now = set(current(store))
    with store.engine.connect() as connection:
        script = ScriptDirectory.from_config(store._alembic_config(connection))
    heads = set(script.get_heads())
    return [
        Revision(
            revision=rev.revision,
            down_revision=rev.down_revision if isinstance(rev.down_revision, str) else None,
            message=(rev.doc or "").strip().splitlines()[0] if rev.doc else "",
            is_head=rev.revision in heads,
            is_current=rev.revision in now,
        )
        for rev in script.walk_revisions()
    ]


def upgrade(store: RunStore, revision: str = "head") -> None:
    _migrate(store, "upgrade", revision)


def downgrade(store: RunStore, revision: str) -> None:
    """Undo migrations down to ``revision`` (``base``: drop the whole schema)."""
    _migrate(store, "downgrade", revision)


def _migrate(store: RunStore, direction: str, revision: str) -> None:
    from alembic.util import CommandError

    try:
        store.migrate(direction, revision)  # an unreachable ledger: TransientError
    except CommandError as exc:
        raise UsageError(f"cannot {direction} the ledger to {revision!r}: {exc}") from None
