"""A transfer that does its best to leak a secret, and the forms a secret may take.

``secret_leak`` reads ``options.label`` (in the tests a ``${file:...}`` reference, so a
secret) and ``options.table``, logs them raw, ``repr``-escaped, JSON-escaped,
whitespace-squashed and URL-encoded, and fails with all of them in its error message.
Imported via ``ETL_JOBS_MODULES=tests.support.secret_jobs`` by subprocess tests.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote, quote_plus

from pydantic import BaseModel, ConfigDict, field_validator

from etl_framework import ETLJob, Outcome, WriteMode, register
from etl_framework.redaction import MIN_LINE_LENGTH, MIN_SECRET_LENGTH


class LeakOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str
    table: str = "orders"

    @field_validator("label")
    @classmethod
    def _crash_on_request(cls, value: str) -> str:
        if value.startswith("crash:"):  # a bug: an exception nobody expects, uncaught
            raise TypeError(f"cannot handle {value!r}")
        return value


def leaky_text(value: str) -> str:
    """``value`` in every way a careless message could write it."""
    return (
        f"raw {value} repr {value!r} list {[value]!r} json {json.dumps(value)} "
        f"json-unicode {json.dumps(value, ensure_ascii=False)} squashed {' '.join(value.split())} "
        f"quoted {quote(value, safe='')} path {quote(value)} plus {quote_plus(value)} "
        f"url postgresql://etl:{quote(value, safe='')}@db/x"
    )


@register("secret_leak")
class SecretLeakJob(ETLJob[LeakOptions]):
    """Fails, having logged its secret label every way it can."""

    supported_modes = frozenset({WriteMode.TRUNCATE, WriteMode.DELTA})

    def pre_execution_cleansing(self) -> None:
        self.context.logger.info("cleansing table %s", self.options.table)

    def pipeline(self) -> None:
        log = self.context.logger
        log.info("label %s", self.options.label)
        log.info("label %r", self.options.label)
        log.warning(
            "details: %s", leaky_text(self.options.label), extra={"label": self.options.label}
        )
        log.info("writing %s", self.options.table)
        self.context.counters.add(f"rows of {self.options.table} for {self.options.label}", 1)
        raise RuntimeError(
            f"cannot load table {self.options.table}: {leaky_text(self.options.label)}"
        )

    def post_execution_cleanup(self, outcome: Outcome) -> None:
        self.context.logger.info("cleanup after %s of %s", outcome, self.options.label)


_ARMOUR = re.compile(r"^-{3,}\s*(BEGIN|END)\b[^-]*-{3,}$")


def _escapes(text: str) -> set[str]:
    body = repr(text + "'\"")[1:-4]  # ' quoting, quotes escaped
    forms = {text, body, body.replace("\\'", "'")}
    forms |= {json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
    forms |= {quote(text, safe=""), quote(text), quote_plus(text)}
    return forms


def secret_forms(secret: str) -> set[str]:
    """The forms none of which may appear in any output (the documented contract).

    Written independently of `etl_framework.redaction`: raw, stripped, squashed,
    repr/JSON-escaped, URL-encoded; each line of at least MIN_LINE_LENGTH characters
    that is not PEM armour; only forms with at least MIN_SECRET_LENGTH characters
    once stripped (shorter ones would be ordinary words), and none for a secret that
    is shorter than that once stripped.
    """
    if len(secret.strip()) < MIN_SECRET_LENGTH:
        return set()  # not registered at all: a 3-letter "secret" would mask words
    parts = {secret, secret.strip(), " ".join(secret.split())}
    for line in (*secret.splitlines(), *secret.split("\n")):
        line = line.strip()
        if len(line) >= MIN_LINE_LENGTH and not _ARMOUR.match(line):
            parts.add(line)
    forms: set[str] = set()
    for part in parts:
        forms |= _escapes(part)
    return {form for form in forms if len(form.strip()) >= MIN_SECRET_LENGTH}


def leaked(secret: str, outputs: dict[str, str]) -> list[tuple[str, str]]:
    """(output name, form) of every form of ``secret`` found in an output."""
    return [
        (name, form)
        for name, text in outputs.items()
        for form in secret_forms(secret)
        if form in text
    ]
