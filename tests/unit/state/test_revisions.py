"""The ledger schema check reads the head revision without alembic, and agrees with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from etl_framework.state.revisions import VERSIONS_DIR, head_revisions
from etl_framework.state.store import MIGRATIONS_DIR, RunStore


def test_head_revisions_match_alembic() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert head_revisions() == frozenset(ScriptDirectory.from_config(cfg).get_heads())
    assert VERSIONS_DIR.parent == MIGRATIONS_DIR


def test_head_revisions_of_a_branch_and_typed_assignments(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (tmp_path / "b.py").write_text('revision: str = "b"\ndown_revision: str | None = "a"\n')
    (tmp_path / "c.py").write_text("revision = 'c'\ndown_revision = 'a'\n")
    assert head_revisions(tmp_path) == {"b", "c"}


def test_a_current_ledger_is_checked_without_importing_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = RunStore(url)
    assert not store.schema_is_current()
    store.upgrade()
    assert store.schema_is_current()
    store.close()
    code = (
        "import sys; from etl_framework.state.store import RunStore; "
        f"s = RunStore({url!r}); s.ensure_schema(None); s.ensure_schema(True); "
        "print(s.schema_is_current(), 'alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]
