"""``etlctl new-job``: scaffold a transfer that runs and passes its test at once.

`plan_job` works out every file of a new transfer, touching nothing: the job module
``<jobs_dir>/<name>.py``, a local sample source ``<jobs_dir>/samples/<name>.*`` (none
for a transform, which reads ``demo_orders``' table), a `TransferHarness` test
``<tests_dir>/test_<name>.py`` and the config text with the transfer's entry (and, for
``http``, its connection) added. `write_job` writes them. The templates are package
data (``templates/<kind>/``), filled with `string.Template`.

The config is edited as text, not rewritten from YAML: the entry is inserted at the end
of the top-level ``transfers:`` block (and ``connections:``), so every comment and the
layout of the file stay as they were; the result is parsed again and must be the old
config plus exactly the new entries, else nothing is written.
"""

from __future__ import annotations

import keyword
import re
import string
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from etl_framework.exceptions import ConfigError, UsageError

Kind = Literal["table", "http", "transform"]
KINDS: tuple[Kind, ...] = ("table", "http", "transform")
MAX_NAME_LENGTH = 30
"""Longest transfer name: its class names keep the generated code within 100 columns."""
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*\Z")
SAMPLES = {"table": "sample.csv", "http": "sample.json"}


@dataclass(frozen=True)
class ScaffoldPlan:
    """What `write_job` writes: new files by path, and the config's new text."""

    name: str
    kind: Kind
    files: dict[Path, str]
    config_path: Path
    config_text: str
    added: list[str] = field(default_factory=list)
    """The config entries added, e.g. ``transfers.orders_eu``."""


def check_name(name: str) -> None:
    """A transfer name the scaffold can use as module, class, table and config key."""
    if not NAME_PATTERN.match(name) or name.endswith("_") or "__" in name:
        raise UsageError(
            f"invalid transfer name {name!r}: use lower-case letters, digits and single "
            "underscores, starting with a letter (e.g. orders_eu)"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise UsageError(f"invalid transfer name {name!r}: at most {MAX_NAME_LENGTH} characters")
    if keyword.iskeyword(name):
        raise UsageError(f"invalid transfer name {name!r}: a Python keyword")


def class_name(name: str) -> str:
    """``orders_eu`` -> ``OrdersEu`` (the job is ``OrdersEuJob``)."""
    return "".join(part.capitalize() for part in name.split("_"))


def module_name(jobs_dir: Path, root: Path) -> str:
    """The dotted package of ``jobs_dir`` (relative to the project root)."""
    try:
        relative = jobs_dir.resolve().relative_to(root.resolve())
    except ValueError:
        relative = Path(jobs_dir.name)
    return ".".join(relative.parts) or jobs_dir.resolve().name


def plan_job(
    name: str,
    kind: Kind,
    *,
    jobs_dir: Path,
    config_path: Path,
    tests_dir: Path,
    root: Path | None = None,
    known_transfers: frozenset[str] = frozenset(),
) -> ScaffoldPlan:
    """Every file of the new transfer and the new config text; raises `UsageError`
    (exit 2) for a bad or taken name, `ConfigError` (exit 3) for a config the entry
    cannot be added to. Touches nothing."""
    check_name(name)
    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")
    if name in known_transfers:
        raise UsageError(f"transfer {name!r} already exists (pipeline --list-transfers)")
    files = render_files(
        name, kind, jobs_dir=jobs_dir, config_path=config_path, tests_dir=tests_dir, root=root
    )
    for path in files:
        if path.exists():
            raise UsageError(f"{path} already exists: transfer {name!r} is taken")
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {config_path}: {exc.strerror or exc}") from None
    samples = [p for p in files if p.parent.name == "samples"]
    entries = config_entries(name, kind, samples[0] if samples else None)
    new_text = text
    added = []
    for section, (key, entry_text) in entries.items():
        new_text = add_entry(new_text, section, key, entry_text, where=str(config_path))
        added.append(f"{section}.{key}")
    return ScaffoldPlan(name, kind, files, config_path, new_text, added)


def render_files(
    name: str,
    kind: Kind,
    *,
    jobs_dir: Path,
    config_path: Path,
    tests_dir: Path,
    root: Path | None = None,
) -> dict[Path, str]:
    """The new transfer's files by path: module, test and (table, http) sample."""
    root = root or Path.cwd()
    module_path = jobs_dir / f"{name}.py"
    test_path = tests_dir / f"test_{name}.py"
    sample_path = (
        jobs_dir / "samples" / f"{name}{Path(SAMPLES[kind]).suffix}" if kind in SAMPLES else None
    )
    values = {
        "name": name,
        "class_name": class_name(name),
        "module": f"{module_name(jobs_dir, root)}.{name}",
        "config": config_path.as_posix(),
        "sample": sample_path.as_posix() if sample_path else "",
        "test_path": test_path.as_posix(),
    }
    files = {
        module_path: _render(kind, "job.py.tmpl", values),
        test_path: _render(kind, "test.py.tmpl", values),
    }
    if sample_path is not None:
        files[sample_path] = _template(kind, SAMPLES[kind])
    return files


def write_job(plan: ScaffoldPlan) -> list[Path]:
    """Write the plan's files (never over an existing one) and then the config."""
    written = []
    for path, text in plan.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as out:
            out.write(text)
        written.append(path)
    temporary = plan.config_path.with_name(f".{plan.config_path.name}.new-job")
    temporary.write_text(plan.config_text, encoding="utf-8")
    temporary.replace(plan.config_path)
    return written


def config_entries(name: str, kind: Kind, sample: Path | None) -> dict[str, tuple[str, str]]:
    """``section -> (key, YAML text of the entry at indent 0)`` for the new transfer."""
    how = f"etlctl new-job {name} --kind {kind}"
    if kind == "table":
        assert sample is not None
        transfer = f"{name}:  # {how}\n  table: {name}\n  source: {sample.as_posix()}\n"
    elif kind == "http":
        assert sample is not None
        transfer = (
            f"{name}:  # {how}\n  table: {name}\n"
            f"  sample: {sample.as_posix()}  # remove to call the API ({name}_api)\n"
        )
    else:
        transfer = f"{name}:  # {how}\n  table: {name}\n  params: {{country: GB}}\n"
    entries = {"transfers": (name, transfer)}
    if kind == "http":
        entries["connections"] = (
            f"{name}_api",
            f"{name}_api:  # the API {name} reads (auth: see docs/http.md)\n"
            "  type: http\n  base_url: https://api.example.com/\n",
        )
    return entries


def add_entry(text: str, section: str, key: str, entry: str, *, where: str) -> str:
    """``text`` with ``entry`` (YAML lines at indent 0) added to the top-level block
    mapping ``section``, after its last line; the section is added at the end when the
    file has none. Raises `UsageError` if ``key`` is already there, `ConfigError` if the
    file is not YAML or the section is not a block mapping."""
    old = _parse(text, where)
    existing = old.get(section)
    if existing is not None and not isinstance(existing, dict):
        raise ConfigError(f"{where}: {section} is not a mapping")
    if key in (existing or {}):
        raise UsageError(f"{section}.{key} is already in {where}")
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start = next(
        (i for i, line in enumerate(lines) if re.match(rf"{re.escape(section)}\s*:", line)), None
    )
    if start is None:
        new_lines = [*lines, f"{section}:\n", *_indented(entry, "  ")]
    else:
        head = lines[start].split("#", 1)[0].split(":", 1)[1].strip()
        if head:
            raise ConfigError(
                f"{where} line {start + 1}: {section} is written inline ({head[:20]}...): "
                f"write it as a block mapping (one entry per line) to add {key}"
            )
        end = start + 1  # the block: up to the next line that starts at column 0
        while end < len(lines) and (lines[end][:1] in (" ", "\t", "\n", "\r", "#")):
            end += 1
        last = end  # after its last indented line (top-level comments stay below)
        while last > start + 1 and lines[last - 1][:1] not in (" ", "\t"):
            last -= 1
        while last > start + 1 and not lines[last - 1].strip():
            last -= 1
        indent = next(
            (
                line[: len(line) - len(line.lstrip())]
                for line in lines[start + 1 : last]
                if line.strip() and not line.lstrip().startswith("#")
            ),
            "  ",
        )
        new_lines = [*lines[:last], *_indented(entry, indent), *lines[last:]]
    new_text = "".join(new_lines)
    new = _parse(new_text, where)
    expected = dict(old)
    expected[section] = {**(existing or {}), key: yaml.safe_load(entry)[key]}
    if new != expected:
        raise ConfigError(
            f"{where}: adding {section}.{key} as text would change other entries; add it by hand"
        )
    return new_text


def _indented(entry: str, indent: str) -> list[str]:
    return [f"{indent}{line}" if line.strip() else line for line in entry.splitlines(True)]


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML: {' '.join(str(exc).split())}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the config is not a mapping")
    return data


def _template(kind: str, file: str) -> str:
    return resources.files(__package__).joinpath("templates", kind, file).read_text("utf-8")


def _render(kind: str, file: str, values: dict[str, str]) -> str:
    return string.Template(_template(kind, file)).substitute(values)


__all__ = [
    "KINDS",
    "MAX_NAME_LENGTH",
    "Kind",
    "ScaffoldPlan",
    "add_entry",
    "check_name",
    "class_name",
    "plan_job",
    "render_files",
    "write_job",
]
