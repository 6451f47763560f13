"""Bounded config parsing: limits, duplicate keys, file references (in process)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from etl_framework._config_input import MAX_CONFIG_NODES, MAX_YAML_ALIASES
from etl_framework.config import load_config
from etl_framework.exceptions import ConfigError
from tests.support.hostile import billion_laughs


def _load(tmp_path: Path, text: str, name: str = "c.yaml") -> None:
    path = tmp_path / name
    path.write_text(text)
    load_config(str(path))


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("laughs.yaml", billion_laughs(), f"expands to more than {MAX_CONFIG_NODES:,} values"),
        ("deep.yaml", "x: " + "{a: " * 5000 + "1" + "}" * 5000, "nested deeper than 50"),
        ("deep.json", '{"x": ' + "[" * 100000 + "]" * 100000 + "}", "nested deeper than 50"),
        ("rec.yaml", "a: &a [*a]\n", "line 1: an alias refers to its own anchor"),
        (
            "aliases.yaml",
            "a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_YAML_ALIASES + 1)) + "]\n",
            f"line 2: more than {MAX_YAML_ALIASES} aliases",
        ),
    ],
)
def test_bombs_are_refused_within_a_second(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, text, name)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "a.yaml",
            "state: {}\nlogging:\n  level: INFO\n  level: DEBUG\n",
            "line 4: duplicate key 'level'",
        ),
        ("b.yaml", "transfers: {x: {a: 1, a: 2}}\n", "line 1: duplicate key 'a'"),
        ("c.json", '{"logging": {},\n "logging": {}}', "line 2: duplicate key 'logging'"),
        ("d.json", '{"t": {"x": [\n{"a": 1, "b": 2,\n "a": 3}]}}', "line 3: duplicate key 'a'"),
    ],
)
def test_a_duplicate_key_is_an_error_naming_it_and_its_line(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, text, name)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("connections: {1: {type: sql, url: 'sqlite:///x'}}\n", "line 1: key '1' is not a string"),
        ("transfers:\n  null: {}\n", "line 2: key 'null' is not a string"),
        ("on: 1\n", "line 1: key 'on' is not a string"),  # YAML 1.1: True
        ("? [a, b]\n: 1\n", "line 1: a key is a list or mapping"),
    ],
)
def test_a_key_that_is_not_a_string_is_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, text)


def test_anchors_and_merge_keys_within_the_limits_still_work(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "connections:\n"
        "  a: &base {type: sql, url: 'sqlite:///a.db'}\n"
        "  b: {<<: *base, url: 'sqlite:///b.db'}\n"
    )
    config = load_config(str(path))
    assert config.connections["b"].url.get_secret_value() == "sqlite:///b.db"  # type: ignore[attr-defined]


def test_secrets_dir_files_are_bounded_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "BIG").write_bytes(b"x" * (1024 * 1024 + 1))
    monkeypatch.setenv("ETL_SECRETS_DIR", str(secrets))
    with pytest.raises(ConfigError, match="BIG is larger than 1 MiB"):
        _load(tmp_path, "transfers: {x: {p: '${BIG}'}}\n")


def test_a_config_of_exactly_the_cap_is_read(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    text = "transfers: {}\n"
    path.write_text(text + "#" * (1024 * 1024 - len(text)))
    assert load_config(str(path)).transfers == {}
