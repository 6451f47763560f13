"""Tests of the deployment spec (gke_deploy/transfers.yaml -> TransferSpec)."""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from pathlib import Path

import pytest

from etl_framework._version import __version__
from etl_framework.deploy.spec import (
    DEFAULT_TRANSFERS_FILE,
    SecretKeyRef,
    TransferSpec,
    get_transfer,
    load_transfers,
)
from etl_framework.exceptions import (
    ConfigError,
    ConfigValidationError,
    UnknownTransferError,
)
from etl_framework.redaction import looks_secret
from etl_framework.window import WriteMode

REPO = Path(__file__).resolve().parents[3]

BASE = """
defaults:
  image: europe-west2-docker.pkg.dev/p/etl/etl-framework
  tag: "1.2.3"
  namespace: etl
  service_account: etl-runner
  credentials_secret: etl-credentials
  env: {ETL_ENV: prod, LOG_LEVEL: INFO}
  resources:
    requests: {cpu: 500m, memory: 512Mi}
    limits: {cpu: 1, memory: 1Gi}
environments:
  dev: {namespace: etl-dev, tag: dev, env: {ETL_ENV: dev}, resources: {requests: {cpu: 250m}}}
  prod: {namespace: etl}
transfers:
  - name: demo_orders
    schedule: "0 3 * * *"
    mode: delta
    config: gs://cfg/config.yaml
    start_date: 2024-01-01
    tags: [demo]
    resources: {limits: {memory: 2Gi}}
  - name: full_rebuild
    mode: truncate
    config: /app/jobs/config/full.yaml
    start_date: "20240301"
    credentials_secret: null
    env: {EXTRA: "x", API_TOKEN: "secretKeyRef:api-creds/token"}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "transfers.yaml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(autouse=True)
def _no_etl_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ETL_ENV", raising=False)


def problems_of(path: Path, env: str | None = None) -> dict[str, str]:
    with pytest.raises(ConfigValidationError) as info:
        load_transfers(path, env=env)
    assert str(path) in str(info.value)
    return dict(info.value.problems)


# --- merging -------------------------------------------------------------


def test_defaults_are_merged_into_every_transfer(tmp_path: Path) -> None:
    orders, rebuild = load_transfers(write(tmp_path, BASE))

    assert orders.name == "demo_orders"
    assert orders.mode is WriteMode.DELTA
    assert orders.start_date == dt.date(2024, 1, 1)
    assert orders.image_ref == "europe-west2-docker.pkg.dev/p/etl/etl-framework:1.2.3"
    assert orders.namespace == "etl"
    assert orders.service_account == "etl-runner"
    assert orders.credentials_secret == "etl-credentials"
    assert orders.env == {"ETL_ENV": "prod", "LOG_LEVEL": "INFO"}
    # deep merge: the transfer's memory limit wins, the default cpu limit stays (as a string)
    assert orders.resources.limits == {"cpu": "1", "memory": "2Gi"}
    assert orders.resources.requests == {"cpu": "500m", "memory": "512Mi"}
    assert orders.tags == ["demo"]
    assert orders.schedule == "0 3 * * *"
    # named defaults for what the file leaves out
    assert (orders.retries, orders.retry_delay_minutes, orders.backoff_limit) == (2, 5, 2)
    assert orders.catchup is False and orders.allow_parallel_windows is False
    assert orders.sql_proxy is None

    assert rebuild.schedule is None
    assert rebuild.start_date == dt.date(2024, 3, 1)
    assert rebuild.credentials_secret is None  # explicit null wins over the default
    assert rebuild.env == {
        "ETL_ENV": "prod",
        "LOG_LEVEL": "INFO",
        "EXTRA": "x",
        "API_TOKEN": "secretKeyRef:api-creds/token",
    }


def test_environment_overlay_sits_between_defaults_and_transfer(tmp_path: Path) -> None:
    orders, rebuild = load_transfers(write(tmp_path, BASE), env="dev")

    assert orders.namespace == "etl-dev"
    assert orders.tag == "dev"
    assert orders.env == {"ETL_ENV": "dev", "LOG_LEVEL": "INFO"}
    assert orders.resources.requests == {"cpu": "250m", "memory": "512Mi"}
    assert orders.resources.limits == {"cpu": "1", "memory": "2Gi"}
    assert rebuild.env["ETL_ENV"] == "dev"


def test_environment_comes_from_etl_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETL_ENV", "dev")
    assert load_transfers(write(tmp_path, BASE))[0].namespace == "etl-dev"


def test_unknown_environment_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, BASE)
    problems = problems_of(path, env="staging")
    assert "unknown environment" in problems["environments.staging"]
    assert "dev, prod" in problems["environments.staging"]

    monkeypatch.setenv("ETL_ENV", "qa")
    assert "$ETL_ENV" in problems_of(path)["environments.qa"]


def test_secret_refs_and_plain_env_are_split(tmp_path: Path) -> None:
    rebuild = load_transfers(write(tmp_path, BASE))[1]
    assert rebuild.secret_env() == {"API_TOKEN": SecretKeyRef("api-creds", "token")}
    assert "API_TOKEN" not in rebuild.plain_env()
    assert rebuild.plain_env()["EXTRA"] == "x"


def test_pipeline_args_and_names(tmp_path: Path) -> None:
    orders = load_transfers(write(tmp_path, BASE))[0]
    assert orders.pipeline_args("20240105") == [
        "20240105",
        "demo_orders",
        "delta",
        "gs://cfg/config.yaml",
    ]
    assert orders.pipeline_args("20240105", "20240101")[-2:] == ["--delta_start_date", "20240101"]
    assert orders.k8s_name == "demo-orders"


def test_get_transfer(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    assert get_transfer("full_rebuild", path).mode is WriteMode.TRUNCATE
    with pytest.raises(UnknownTransferError, match="did you mean 'demo_orders'"):
        get_transfer("demo_order", path)


def test_spec_is_frozen(tmp_path: Path) -> None:
    orders = load_transfers(write(tmp_path, BASE))[0]
    with pytest.raises(ValueError, match="frozen"):
        orders.tag = "other"  # type: ignore[misc]


def test_shipped_transfers_file_is_valid() -> None:
    specs = load_transfers(REPO / DEFAULT_TRANSFERS_FILE)
    assert specs, "gke_deploy/transfers.yaml lists no transfers"
    assert all(isinstance(spec, TransferSpec) for spec in specs)
    assert load_transfers(REPO / DEFAULT_TRANSFERS_FILE, env="dev")[0].namespace == "etl-dev"


# --- validation ----------------------------------------------------------


def test_every_problem_is_listed_with_its_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        defualts: {}
        defaults:
          image: repo/etl:1.0
          namespace: etl
          resources: {limits: {memory: lots}}
          retries: -1
        environments:
          dev: {namespace: Bad_NS}
        transfers:
          - name: a
            mode: sideways
            schedul: "0 3 * * *"
            config: x
            start_date: 2024-01-01
          - name: b
            config: x
            start_date: 2024-13-01
            mode: delta
            schedule: "every day"
          - name: a
            mode: delta
          - config: x
        """,
    )
    problems = problems_of(path)

    assert problems == {
        "defualts": "unknown section; did you mean 'defaults'?",
        "defaults.image": (
            "image 'repo/etl:1.0' must be a repository without tag or digest: set `tag`"
        ),
        "defaults.resources.limits.memory": (
            "'lots' is not a Kubernetes quantity (e.g. 500m, 1, 512Mi, 2Gi)"
        ),
        "defaults.retries": "Input should be greater than or equal to 0",
        "environments.dev.namespace": (
            "'Bad_NS' is not a Kubernetes name (lowercase letters, digits and '-')"
        ),
        "transfers[0].mode": "Input should be 'truncate' or 'delta'",
        "transfers[0].schedul": "unknown setting; did you mean 'schedule'?",
        "transfers[1].start_date": (
            "invalid start_date '2024-13-01': expected YYYYMMDD or YYYY-MM-DD"
        ),
        "transfers[1].schedule": (
            "'every day' is not a cron expression (5 fields, e.g. '0 3 * * *')"
        ),
        "transfers[2].name": "duplicate transfer 'a' (also transfers[0])",
        "transfers[3].name": "required",
    }


def test_missing_settings_after_merge_are_reported_per_transfer(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        defaults: {namespace: etl}
        transfers:
          - {name: a, mode: delta, start_date: 2024-01-01}
        """,
    )
    problems = problems_of(path)
    assert problems == {
        "transfers[0].config": "required: set it here or in defaults",
        "transfers[0].image": "required: set it here or in defaults",
    }


def test_parallel_runs_need_parallel_windows(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        defaults: {image: repo/etl, namespace: etl, max_active_runs: 4}
        transfers:
          - {name: a, mode: delta, config: x, start_date: 2024-01-01}
          - {name: b, mode: delta, config: x, start_date: 2024-01-01, allow_parallel_windows: true}
        """,
    )
    assert problems_of(path) == {
        "transfers[0]": "max_active_runs 4 needs allow_parallel_windows: true"
    }


@pytest.mark.parametrize(
    "name", ["DB_PASSWORD", "client_secret", "API_TOKEN", "GCP_KEY", "aws_access_key_id"]
)
def test_secret_looking_env_is_rejected(tmp_path: Path, name: str) -> None:
    path = write(
        tmp_path,
        f"""
        defaults: {{image: repo/etl, namespace: etl}}
        transfers:
          - name: a
            mode: delta
            config: x
            start_date: 2024-01-01
            env: {{{name}: hunter2}}
        """,
    )
    message = problems_of(path)["transfers[0].env"]
    assert repr(name) in message
    assert "look like secrets" in message
    assert "secretKeyRef:<secret>/<key>" in message
    assert "hunter2" not in message


def test_templates_are_refused_in_env_and_config(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        defaults: {image: repo/etl, namespace: etl, env: {WHO: "{{ var.value.db_password }}"}}
        transfers:
          - name: a
            mode: delta
            config: "gs://cfg/{% if x %}a{% endif %}.yaml"
            start_date: 2024-01-01
        """,
    )
    problems = problems_of(path)
    assert problems["defaults.env"].startswith(
        "env var(s) 'WHO' contain a Jinja template marker ({{ or {%)"
    )
    assert "contains a Jinja template marker" in problems["transfers[0].config"]
    assert "db_password" not in problems["defaults.env"]


def test_secret_reference_must_be_well_formed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        defaults: {image: repo/etl, namespace: etl, env: {DB_PASSWORD: "secretKeyRef:nokey"}}
        transfers: []
        """,
    )
    assert "malformed secret reference in 'DB_PASSWORD'" in problems_of(path)["defaults.env"]


def test_secret_looking_names() -> None:
    assert looks_secret("db_password") and looks_secret("SLACK_TOKEN")
    assert not looks_secret("ETL_ENV") and not looks_secret("GOOGLE_APPLICATION_CREDENTIALS")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a mapping with defaults, environments, transfers; got empty"),
        ("- a\n- b\n", "expected a mapping with defaults, environments, transfers; got a list"),
    ],
)
def test_file_that_is_not_a_mapping(tmp_path: Path, text: str, message: str) -> None:
    assert problems_of(write(tmp_path, text)) == {"(top level)": message}


def test_missing_transfers_section(tmp_path: Path) -> None:
    path = write(tmp_path, "defaults: {image: repo/etl}\n")
    assert problems_of(path) == {"transfers": "required: a list of transfers"}


def test_unreadable_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read transfers file"):
        load_transfers(tmp_path / "absent.yaml")
    path = write(tmp_path, "transfers: [\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_transfers(path)


@pytest.mark.parametrize("name", ["orders_", "orders__daily", "a_", "x" * 64])
def test_names_that_do_not_map_to_kubernetes_names_are_refused(tmp_path: Path, name: str) -> None:
    # `_` -> `-`: a trailing `_` is an invalid DNS label / label value, `__` is refused too
    path = write(
        tmp_path,
        f"""
        defaults: {{image: repo/etl, namespace: etl}}
        transfers:
          - {{name: {name}, mode: delta, config: x, start_date: 2024-01-01}}
        """,
    )
    message = problems_of(path)["transfers[0].name"]
    assert "63 characters" in message


@pytest.mark.parametrize("name", ["a", "orders", "demo_orders", "a1_b2_c3", "x" * 63])
def test_names_that_map_to_kubernetes_names_are_accepted(tmp_path: Path, name: str) -> None:
    path = write(
        tmp_path,
        f"""
        defaults: {{image: repo/etl, namespace: etl}}
        transfers:
          - {{name: {name}, mode: delta, config: x, start_date: 2024-01-01}}
        """,
    )
    (spec,) = load_transfers(path)
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", spec.k8s_name)


@pytest.mark.parametrize(
    ("tag", "policy"),
    [
        ("dev", "Always"),  # moves with every push to main: a cached copy goes stale
        ("main", "Always"),
        ("1.4", "Always"),
        ("1.4.0-rc1", "Always"),
        ("1.4.0", "IfNotPresent"),
        ("v1.4.0", "IfNotPresent"),
        ("0a1b2c3d4e5f", "IfNotPresent"),  # CI's per-commit tag
    ],
)
def test_only_immutable_tags_are_pulled_if_not_present(tag: str, policy: str) -> None:
    spec = TransferSpec.model_validate(
        {
            "name": "a",
            "mode": "delta",
            "config": "x",
            "start_date": "2024-01-01",
            "image": "repo/etl",
            "namespace": "etl",
            "tag": tag,
        }
    )
    assert spec.image_pull_policy == policy


SPEC_FIELDS = {
    "name": "a",
    "mode": "delta",
    "config": "x",
    "start_date": "2024-01-01",
    "image": "repo/etl",
    "namespace": "etl",
}


def test_latest_is_refused_and_a_digest_pins_the_image() -> None:
    with pytest.raises(ValueError, match="tag 'latest' moves with every push"):
        TransferSpec.model_validate({**SPEC_FIELDS, "tag": "latest"})
    default = TransferSpec.model_validate(SPEC_FIELDS)
    assert default.image_ref.endswith(":v" + __version__)
    assert default.image_pull_policy == "IfNotPresent"
    digest = "sha256:" + "0a" * 32
    pinned = TransferSpec.model_validate({**SPEC_FIELDS, "tag": "dev", "digest": digest})
    assert pinned.image_ref == f"repo/etl@{digest}"
    assert pinned.image_pull_policy == "IfNotPresent"
    with pytest.raises(ValueError, match="not an image digest"):
        TransferSpec.model_validate({**SPEC_FIELDS, "digest": "sha256:abc"})


def test_duplicate_keys_are_problems_naming_the_key_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        defaults: {image: repo/etl, namespace: etl, tag: "1.0.0"}
        environments:
          prod: {namespace: etl}
          prod: {namespace: etl-prod}
        transfers:
          - name: a
            mode: delta
            config: x
            start_date: 2024-01-01
            mode: truncate
        """,
    )
    assert problems_of(path) == {
        "line 5": "duplicate key 'prod' (first on line 4): give each setting once",
        "line 11": "duplicate key 'mode' (first on line 8): give each setting once",
    }


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        defaults: {image: repo/etl, namespace: etl}
        transfers:
          - &base {name: a, mode: delta, config: x, start_date: 2024-01-01}
          - <<: *base
            name: b
        """,
    )
    assert [spec.name for spec in load_transfers(path)] == ["a", "b"]
