"""Secrets found by value, not only by name, when Jobs are rendered (issue 13 item 2).

Every shipped config (``gke_deploy/transfers.yaml`` and ``jobs/config/*``) is rendered
with secrets planted where a careless renderer could pick them up (the environment,
``$ETL_SECRETS_DIR``, a key file on disk); no form of any of them may reach a manifest.
A variable the transfer's config reads into a secret field must be a ``secretKeyRef``;
a literal URL with a password, or a value from a secret source, is refused whatever
the variable's name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from etl_framework import redaction
from etl_framework.deploy.manifests import (
    ENVIRONMENTS,
    build_backfill_job,
    build_job,
    render_examples,
    to_yaml,
)
from etl_framework.deploy.spec import (
    SqlProxy,
    TransferSpec,
    config_secret_names,
    load_transfers,
)
from etl_framework.exceptions import ConfigError, ConfigValidationError
from etl_framework.redaction import looks_secret
from tests.secret_jobs import leaked

REPO = Path(__file__).resolve().parents[2]
SHIPPED_TRANSFERS = REPO / "gke_deploy" / "transfers.yaml"
SHIPPED_CONFIGS = sorted((REPO / "jobs" / "config").glob("*.yaml"))
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")
PLANTED = {
    "WAREHOUSE_URL": 'postgresql+psycopg://etl:Pl4nted-W4rehouse"pw@db/etl',
    "STATE_DB_URL": "postgresql+psycopg://ledger:Pl4nted-St4te/pw@db/state",
    "HAWK_KEY": "pl4nted-hawk-key\nsecond-line-of-the-key",
    "HAWK_ID": "pl4nted-hawk-id-value",
    "DATAHUB_BASE_URL": "https://svc:Pl4nted-B4se-pw@datahub.example",
    "GCP_PROJECT": "pl4nted-project-id",
    "EXPORT_BUCKET": "pl4nted-export-bucket",
}
"""A planted value for every ``${VAR}`` the shipped configs read."""
KEY_FILE = (
    '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvPl4nted\\n"}'
)


def referenced_names(config: Path) -> set[str]:
    return set(REFERENCE.findall(config.read_text()))


def test_every_reference_of_the_shipped_configs_is_planted() -> None:
    assert SHIPPED_CONFIGS
    for config in SHIPPED_CONFIGS:
        assert referenced_names(config) <= PLANTED.keys(), config


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The secrets in the environment, in $ETL_SECRETS_DIR, a key file in the work dir,
    and registered as read from a secret source."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, value in PLANTED.items():
        monkeypatch.setenv(name, value)
        (secrets / name).write_text(value)
    monkeypatch.setenv("ETL_SECRETS_DIR", str(secrets))
    (tmp_path / "keyscredentials").mkdir()
    (tmp_path / "keyscredentials" / "key.json").write_text(KEY_FILE)
    monkeypatch.chdir(tmp_path)
    return {**PLANTED, "KEY_FILE": KEY_FILE}


def no_leak(planted: dict[str, str], texts: dict[str, str]) -> None:
    for name, secret in planted.items():
        if name in ("GCP_PROJECT", "EXPORT_BUCKET", "HAWK_ID"):
            continue  # not secrets: rendered as plain values where the spec says so
        assert leaked(secret, texts) == [], name
    for needle in ("Pl4nted", "pl4nted-hawk-key", "PRIVATE KEY", "second-line-of-the-key"):
        for name, text in texts.items():
            assert needle not in text, f"{needle!r} leaked into {name}"


def every_job(spec: TransferSpec, env: str | None) -> dict[str, dict[str, Any]]:
    proxy = SqlProxy(instance="my-project:europe-west2:etl-state")
    out: dict[str, dict[str, Any]] = {}
    for choice in (False, proxy):
        tag = f"{env}-{spec.name}-{'proxy' if choice else 'plain'}"
        out[f"{tag}-job"] = build_job(spec, "20240115", env=env, sql_proxy=choice)
        out[f"{tag}-delta-start"] = build_job(
            spec, "20240115", delta_start_date="20240101", env=env, sql_proxy=choice
        )
        out[f"{tag}-backfill"] = build_backfill_job(
            spec, "20240101", "20240131", parallelism=4, env=env, sql_proxy=choice
        )
    return out


def test_the_shipped_transfers_file_renders_without_a_planted_secret(
    planted: dict[str, str],
) -> None:
    texts: dict[str, str] = {}
    for env in ENVIRONMENTS:
        for spec in load_transfers(SHIPPED_TRANSFERS, env):
            texts.update({k: to_yaml(v) for k, v in every_job(spec, env).items()})
    texts.update(
        render_examples({env: load_transfers(SHIPPED_TRANSFERS, env) for env in ENVIRONMENTS})
    )
    assert texts
    no_leak(planted, texts)


def transfer_name(config: Path) -> str:
    # the first transfer of the file (local.yaml also configures demo_completed_orders)
    name = next(iter(yaml.safe_load(config.read_text())["transfers"]))
    return str(name)


def transfers_file(directory: Path, env_for: Any) -> Path:
    """A transfers file with one transfer per shipped config, ``env_for(config)`` its env."""
    entries = [
        {
            "name": transfer_name(config),
            "mode": "delta",
            "config": str(config),
            "start_date": "2024-01-01",
            "env": env_for(config),
        }
        for config in SHIPPED_CONFIGS
    ]
    path = directory / "transfers.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "defaults": {"image": "repo/etl", "namespace": "etl", "env": {"ETL_ENV": "prod"}},
                "transfers": entries,
            }
        )
    )
    return path


def as_references(config: Path) -> dict[str, str]:
    """What a correct transfers file says: secrets as references, the rest as values."""
    marked = config_secret_names(config)
    return {
        name: (
            f"secretKeyRef:etl-secrets/{name.lower().replace('_', '-')}"
            if name in marked
            else {"GCP_PROJECT": "my-project", "EXPORT_BUCKET": "exports"}.get(name, "plain")
        )
        for name in referenced_names(config)
        if name in marked or name in ("GCP_PROJECT", "EXPORT_BUCKET")
    }


def test_what_the_shipped_configs_mark_secret() -> None:
    by_file = {config.name: config_secret_names(config) for config in SHIPPED_CONFIGS}
    assert by_file == {
        "gcs_events_to_bigquery.yaml": {"STATE_DB_URL": "state.url"},
        "local.yaml": {"STATE_DB_URL": "state.url", "WAREHOUSE_URL": "connections.warehouse.url"},
        "omis_dataset.yaml": {
            "STATE_DB_URL": "state.url",
            "HAWK_KEY": "connections.datahub.auth.key",
            "WAREHOUSE_URL": "connections.warehouse.url",
        },
    }


def test_every_shipped_config_renders_its_secrets_as_references(
    tmp_path: Path, planted: dict[str, str]
) -> None:
    specs = load_transfers(transfers_file(tmp_path, as_references))
    assert len(specs) == len(SHIPPED_CONFIGS)
    texts: dict[str, str] = {}
    for spec in specs:
        jobs = every_job(spec, "prod")
        texts.update({k: to_yaml(v) for k, v in jobs.items()})
        marked = config_secret_names(spec.config)
        for manifest in jobs.values():
            (container,) = manifest["spec"]["template"]["spec"]["containers"]
            env = {item["name"]: item for item in container["env"]}
            for name in marked:
                assert "value" not in env[name], (spec.name, name)
                assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "etl-secrets"
    no_leak(planted, texts)


def test_a_literal_the_config_marks_secret_is_refused_naming_it_not_showing_it(
    tmp_path: Path,
) -> None:
    """Harmless-looking literals (no password in them) for what the configs mark secret."""

    def marked_by_config_only(config: Path) -> list[str]:  # HAWK_KEY is refused by name
        return [name for name in config_secret_names(config) if not looks_secret(name)]

    path = transfers_file(
        tmp_path,
        lambda config: {name: "sqlite:///plain.db" for name in marked_by_config_only(config)},
    )
    with pytest.raises(ConfigValidationError) as info:
        load_transfers(path)
    expected = {
        f"transfers[{index}].env.{name}"
        for index, config in enumerate(SHIPPED_CONFIGS)
        for name in marked_by_config_only(config)
    }
    problems = dict(info.value.problems)
    assert set(problems) == expected
    assert "reads it into connections.warehouse.url, a secret" in str(info.value)


def test_planted_literals_are_refused_without_showing_them(
    tmp_path: Path, planted: dict[str, str]
) -> None:
    literal = transfers_file(
        tmp_path, lambda config: {name: PLANTED[name] for name in referenced_names(config)}
    )
    with pytest.raises(ConfigValidationError) as info:
        load_transfers(literal)
    assert len({path.split(".")[0] for path, _ in info.value.problems}) == len(SHIPPED_CONFIGS)
    no_leak(planted, {"error": str(info.value)})


@pytest.mark.parametrize(
    "value",
    [
        "postgresql://u:pw-in-the-url@h/db",
        "host=db user=etl password=pw-in-a-dsn",
        "https://user:pw-in-the-url@api.example/v1",
    ],
)
def test_a_secret_value_is_refused_whatever_its_name(tmp_path: Path, value: str) -> None:
    path = tmp_path / "transfers.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "defaults": {"image": "repo/etl", "namespace": "etl"},
                "transfers": [
                    {
                        "name": "a",
                        "mode": "delta",
                        "config": "gs://cfg/a.yaml",
                        "start_date": "2024-01-01",
                        "env": {"WAREHOUSE": value, "ETL_ENV": "prod"},
                    }
                ],
            }
        )
    )
    with pytest.raises(ConfigValidationError) as info:
        load_transfers(path)
    assert "'WAREHOUSE'" in str(info.value) and "'ETL_ENV'" not in str(info.value)
    assert "pw-in-" not in str(info.value)


def test_a_value_from_a_secret_source_is_never_rendered_as_a_literal(tmp_path: Path) -> None:
    (spec,) = [s for s in load_transfers(SHIPPED_TRANSFERS, "prod") if s.name == "demo_orders"]
    redaction.register_secret("read-from-secret-manager")
    # a copy skips validation: the renderer checks what it writes
    copied = spec.model_copy(update={"env": {**spec.env, "LABEL": "read-from-secret-manager"}})
    with pytest.raises(ConfigError, match="'LABEL'") as info:
        build_job(copied, "20240115")
    assert "read-from-secret-manager" not in str(info.value)
    with pytest.raises(ConfigError, match="'DB_URL'"):
        build_job(spec.model_copy(update={"env": {"DB_URL": "mysql://u:p4ss@h/d"}}), "20240115")
    with pytest.raises(ConfigError, match="'API_TOKEN'"):
        build_backfill_job(
            spec.model_copy(update={"env": {"API_TOKEN": "abc"}}), "20240101", "20240102"
        )


def test_names_that_only_point_at_a_key_stay_plain_values(tmp_path: Path) -> None:
    (spec,) = [s for s in load_transfers(SHIPPED_TRANSFERS, "prod") if s.name == "demo_orders"]
    env = {"KEY_PATH": "/var/secrets/google/key.json", "PRIMARY_KEY": "order_id"}
    job = build_job(spec.model_copy(update={"env": {**spec.env, **env}}), "20240115")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    values = {item["name"]: item.get("value") for item in container["env"]}
    assert values["KEY_PATH"] == "/var/secrets/google/key.json"
    assert values["PRIMARY_KEY"] == "order_id"


def test_secret_fields_of_an_imported_jobs_options_count(tmp_path: Path) -> None:
    import tests.sample_jobs  # noqa: F401  (TraceOptions.api_token is a SecretStr)

    name = "trace_job"
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {"transfers": {name: {"trace_dir": "${TRACE_DIR}", "api_token": "${UPSTREAM}"}}}
        )
    )
    assert config_secret_names(config) == {"UPSTREAM": f"transfers.{name}.api_token"}
