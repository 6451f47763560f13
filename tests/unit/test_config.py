from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from etl_framework import redaction
from etl_framework.config import load_config
from etl_framework.exceptions import ConfigError, ConfigValidationError


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_defaults_and_sql_connection(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, "connections:\n  wh: {type: sql, url: 'sqlite:///x.db'}\n")
    )
    assert config.state.url.get_secret_value() == "sqlite:///.etl/state.db"
    assert config.connections["wh"].type == "sql"
    assert len(config.checksum) == 64


def test_json_config(tmp_path: Path) -> None:
    location = write(tmp_path, json.dumps({"logging": {"format": "json"}}), "c.json")
    assert load_config(location).logging.format == "json"


def test_env_interpolation_with_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WH_URL", "sqlite:///from-env.db")
    text = (
        "connections:\n"
        "  a: {type: sql, url: '${WH_URL}'}\n"
        "  b: {type: sql, url: '${MISSING_URL:-sqlite:///default.db}'}\n"
        "transfers:\n  x: {note: 'costs $${NOT_A_REF}'}\n"
    )
    config = load_config(write(tmp_path, text))
    assert config.connections["a"].url.get_secret_value() == "sqlite:///from-env.db"  # type: ignore[attr-defined]
    assert config.connections["b"].url.get_secret_value() == "sqlite:///default.db"  # type: ignore[attr-defined]
    assert config.transfers["x"]["note"] == "costs ${NOT_A_REF}"


def test_secret_file_from_kubernetes_mount(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "DB_PASSWORD").write_text("s3cr3t-from-file\n")
    monkeypatch.setenv("ETL_SECRETS_DIR", str(secrets))
    text = "connections:\n  wh: {type: sql, url: 'postgresql+psycopg://u:${DB_PASSWORD}@h/db'}\n"
    config = load_config(write(tmp_path, text))
    assert "s3cr3t-from-file@" in config.connections["wh"].url.get_secret_value()  # type: ignore[attr-defined]
    assert "s3cr3t-from-file" not in repr(config)
    assert redaction.redact("token s3cr3t-from-file") == "token ***"


def test_explicit_file_reference(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("abc123\n")
    config = load_config(write(tmp_path, f"transfers:\n  t: {{key: '${{file:{tmp_path}/key}}'}}\n"))
    assert config.transfers["t"]["key"] == "abc123"


def test_environment_overlay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        "logging: {level: INFO, format: text}\nenvironments:\n  prod: {logging: {level: WARNING}}\n"
    )
    location = write(tmp_path, text)
    assert load_config(location).logging.level == "INFO"
    monkeypatch.setenv("ETL_ENV", "prod")
    config = load_config(location)
    assert (config.logging.level, config.logging.format, config.environment) == (
        "WARNING",
        "text",
        "prod",
    )


def test_unknown_environment_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_ENV", "staging")
    with pytest.raises(ConfigValidationError, match="'staging' not in config"):
        load_config(write(tmp_path, "environments:\n  prod: {}\n"))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        "state: {lease_ttl_seconds: -1}\n"
        "logging: {format: xml}\n"
        "connections:\n"
        "  a: {type: sql}\n"
        "  b: {type: ftp}\n"
        "  c: {type: sql, url: '${NOPE_NOT_SET}'}\n"
        "surprise: 1\n"
    )
    with pytest.raises(ConfigValidationError) as info:
        load_config(write(tmp_path, text))
    paths = [path for path, _ in info.value.problems]
    assert "connections.a.url" in paths
    assert "connections.b.type" in paths
    assert "connections.c.url" in paths
    assert "state.lease_ttl_seconds" in paths
    assert "logging.format" in paths
    assert "surprise" in paths
    assert info.value.exit_code == 3
    assert "NOPE_NOT_SET" in str(info.value)


def test_validation_errors_do_not_echo_secret_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", "tok-123456789")
    text = "state: {lease_ttl_seconds: '${API_TOKEN}'}\n"
    with pytest.raises(ConfigValidationError) as info:
        load_config(write(tmp_path, text))
    assert "tok-123456789" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [1, 2\n", "not valid YAML: line"),
        ("- just\n- a list\n", "must be a mapping"),
    ],
)
def test_broken_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "nope.yaml"))


def test_secretstr_repr_is_masked() -> None:
    assert "hunter2" not in repr(SecretStr("hunter2"))


def test_an_unusable_state_url_is_a_config_problem_without_its_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigValidationError) as caught:
        load_config(write(tmp_path, "state: {url: 'postgresql://u:hunter22@h:notaport/db'}\n"))
    assert "state.url" in str(caught.value) and "not a SQLAlchemy database URL" in str(caught.value)
    assert "hunter22" not in str(caught.value)


def test_a_secret_file_that_is_not_text_is_a_config_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "BIN_KEY").write_bytes(b"\xff\xfe")
    (tmp_path / "bin.key").write_bytes(b"\xff\xfe")
    monkeypatch.setenv("ETL_SECRETS_DIR", str(secrets))
    text = "transfers:\n  x: {a: '${BIN_KEY}', b: '${file:" + str(tmp_path / "bin.key") + "}'}\n"
    with pytest.raises(ConfigValidationError) as caught:
        load_config(write(tmp_path, text))
    message = str(caught.value)
    assert "transfers.x.a" in message and "BIN_KEY is not UTF-8 text" in message
    assert "transfers.x.b" in message


def test_a_reference_inside_a_default_is_refused_not_taken_literally(tmp_path: Path) -> None:
    with pytest.raises(ConfigValidationError, match="a default cannot contain a reference"):
        load_config(write(tmp_path, "transfers:\n  x: {a: '${B:-${A}}'}\n"))


def test_an_invalid_base_url_is_reported_without_its_query_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_BASE", "api.example.com/v1?access_token=tok_live_abc123")
    text = "connections:\n  api: {type: http, base_url: '${API_BASE}'}\n"
    with pytest.raises(ConfigValidationError) as caught:
        load_config(write(tmp_path, text))
    assert "connections.api.base_url" in str(caught.value)
    assert "tok_live_abc123" not in str(caught.value)


def test_an_authorization_header_from_the_environment_is_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_AUTH", "Basic dXNlcjpodW50ZXIy")
    text = (
        "connections:\n  api: {type: http, base_url: 'https://api.test/',"
        " headers: {Authorization: '${API_AUTH}'}}\n"
    )
    load_config(write(tmp_path, text))
    assert redaction.redact("sent Basic dXNlcjpodW50ZXIy") == "sent ***"


def test_an_unset_reference_is_one_problem_not_two(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATE_DB_URL", raising=False)
    with pytest.raises(ConfigValidationError) as caught:
        load_config(write(tmp_path, "state: {url: '${STATE_DB_URL}'}\n"))
    assert caught.value.problems == [
        ("state.url", "environment variable or secret 'STATE_DB_URL' is not set")
    ]
