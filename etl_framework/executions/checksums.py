"""Model files of a step: found by unix-style patterns, named by file stem, hashed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from etl_framework.exceptions import UsageError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelFile:
    """One model: its name (file name without extension), path and content sha256."""

    name: str
    path: str
    """Relative to the base path, with ``/`` separators."""
    checksum: str


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def find_models(base_path: str | Path, patterns: list[str] | tuple[str, ...]) -> list[ModelFile]:
    """The files under ``base_path`` matched by ``patterns`` (``*.sql``, ``**/*.json``),
    sorted by name.

    Raises:
        UsageError: the base path is not a directory, a pattern is absolute or leaves
            the base path, or two files share a model name (naming both files).
    """
    base = Path(base_path)
    if not base.is_dir():
        raise UsageError(f"base path {str(base_path)!r} is not a directory")
    if not patterns:
        raise UsageError("no model pattern given")
    found: dict[Path, None] = {}
    for pattern in patterns:
        pure = PurePosixPath(pattern.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts:
            raise UsageError(f"model pattern {pattern!r} must be relative to the base path")
        relative = str(pure)  # drops a leading "./"
        if relative in ("", "."):
            raise UsageError(f"model pattern {pattern!r} matches no file name")
        for path in sorted(base.glob(relative)):
            if path.is_file():
                found.setdefault(path, None)
    models: dict[str, ModelFile] = {}
    for path in found:
        relative_path = path.relative_to(base).as_posix()
        name = path.stem
        clash = models.get(name)
        if clash is not None:
            first, second = sorted([clash.path, relative_path])
            raise UsageError(f"model name {name!r} is not unique in the step: {first} and {second}")
        models[name] = ModelFile(name, relative_path, sha256_of(path))
    return [models[name] for name in sorted(models)]
