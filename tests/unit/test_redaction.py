"""The one choke point for secrets: every form a registered value can take is masked."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest

from etl_framework import redaction
from etl_framework.redaction import MASK, looks_secret, redact, register_secret

TRICKY = "p@ss w'o\"rd\\ä\x01\nsecond-line-of-it"
PEM_BODY = [f"MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC{i:02d}xyz" for i in range(5)]
PEM = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(PEM_BODY) + "\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    "form",
    [
        TRICKY,
        repr(TRICKY),
        ascii(TRICKY),
        repr([TRICKY]),
        str({"k": TRICKY}),
        json.dumps(TRICKY),
        json.dumps(TRICKY, ensure_ascii=False),
        json.dumps({"error": repr(TRICKY)}),
        " ".join(TRICKY.split()),
        quote(TRICKY, safe=""),
        quote(TRICKY),
        quote_plus(TRICKY),
        "second-line-of-it",
    ],
)
def test_every_form_of_a_registered_secret_is_masked(form: str) -> None:
    register_secret(TRICKY)
    out = redact(f"before {form} after")
    assert out.startswith("before ") and out.endswith(" after")
    assert MASK in out
    for piece in ("p@ss", "second-line-of-it", "w'o"):
        assert piece not in out


def test_a_repr_with_double_quotes_is_masked() -> None:
    secret = "it's-a-secret"  # repr picks "..." quoting: the ' is not escaped
    register_secret(secret)
    assert redact(repr(f"x {secret}")) == repr("x ***").replace("'", '"')
    assert redact(repr(f'x {secret} "')) == "'x *** \"'"


def test_each_line_of_a_pem_key_is_masked_but_not_its_armour() -> None:
    register_secret(PEM)
    for line in PEM_BODY:
        assert redact(f"got {line}!") == f"got {MASK}!"
    # the headers and braces alone are too common to mask
    text = "-----BEGIN PRIVATE KEY----- { } -----END PRIVATE KEY-----"
    assert redact(text) == text


def test_a_service_account_json_is_masked_whole_by_line_and_by_decoded_key() -> None:
    key = json.dumps(
        {"type": "service_account", "private_key_id": "0123abcd4567ef", "private_key": PEM},
        indent=2,
    )
    register_secret(key)
    assert redact(key) == MASK
    assert PEM_BODY[2] not in redact(json.loads(key)["private_key"])
    assert "0123abcd4567ef" not in redact("key id 0123abcd4567ef")
    assert redact('{ "type": "service_account" }') == '{ "type": "service_account" }'


def test_url_passwords_are_masked_registered_or_not() -> None:
    assert redact("postgresql://etl:hunter2@db/x") == f"postgresql://etl:{MASK}@db/x"
    assert redact("postgresql://etl:p@ss@db/x") == f"postgresql://etl:{MASK}@db/x"
    assert redact("postgresql://etl:sla/sh@db/x") == f"postgresql://etl:{MASK}@db/x"
    register_secret("postgresql+psycopg://etl:p%40ss%2Fw0rd@db/x")
    assert redact("password p@ss/w0rd given") == f"password {MASK} given"


def test_short_values_and_blank_forms_are_not_masked() -> None:
    register_secret("abc")
    register_secret("  \n\t  ")
    register_secret(" ab \n")
    assert redact("abc ab  \n\t  x") == "abc ab  \n\t  x"


def test_a_mask_never_completes_another_secret() -> None:
    register_secret("a***b-secret")
    register_secret("inner-secret")
    assert redact("a" + "inner-secret" + "b-secret") == MASK


def test_redact_value_masks_keys_and_values_before_encoding() -> None:
    register_secret('tok"en\\value')
    value = {'tok"en\\value': ['x tok"en\\value', 3, None, True]}
    assert redaction.redact_value(value) == {MASK: [f"x {MASK}", 3, None, True]}


@pytest.mark.parametrize(
    "name",
    [
        "DB_PASSWORD",
        "client_secret",
        "api_token",
        "HAWK_KEY",
        "apiKey",
        "API_KEYS",
        "connections.datahub.auth.key",
        "aws_access_key_id",
        "ETL_DSN",
    ],
)
def test_secret_names(name: str) -> None:
    assert looks_secret(name)


@pytest.mark.parametrize(
    "name",
    [
        "KEY_PATH",
        "credentials_file",
        "GCP_KEY_FILE",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "key_columns",
        "transfers.orders.keys[0]",
        "partition_key",
        "token_url",
        "secret_name",
        "ETL_ENV",
        "state.url",
    ],
)
def test_names_that_only_point_at_or_describe_a_key_are_not_secret(name: str) -> None:
    assert not looks_secret(name)


def test_config_masks_secret_sources_but_not_paths_named_after_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from etl_framework.config import config_from_mapping

    monkeypatch.setenv("GCP_KEY_FILE", "/var/secrets/google/etl-sa.json")
    monkeypatch.setenv("ORDERS_KEY_COLUMNS", "order_id")
    monkeypatch.setenv("API_TOKEN", "tok-12345678")
    monkeypatch.setenv("PLAIN_LOOKING", "sqlite:///from-a-secret-field.db")
    config_from_mapping(
        {
            "state": {"url": "${PLAIN_LOOKING}"},
            "connections": {
                "bq": {"type": "bigquery", "project": "p", "credentials_file": "${GCP_KEY_FILE}"}
            },
            "transfers": {
                "any": {"key_columns": ["${ORDERS_KEY_COLUMNS}"], "api_token": "${API_TOKEN}"}
            },
        }
    )
    text = "key file /var/secrets/google/etl-sa.json, keys order_id"
    assert redact(text) == text
    assert redact("token tok-12345678") == f"token {MASK}"
    assert redact("ledger sqlite:///from-a-secret-field.db") == f"ledger {MASK}"
