"""The ledger schema's head revision(s), read from the migration files without alembic.

Every run checks that the ledger schema is current. Importing alembic and building
its script directory for that costs ~0.1 s; reading ``revision`` / ``down_revision``
from the files under ``migrations/versions`` and one ``SELECT`` of the version table
answer the same question. alembic is still what creates and upgrades the schema.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

VERSIONS_DIR = Path(__file__).parent / "migrations" / "versions"
VERSION_TABLE = "etl_alembic_version"
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
