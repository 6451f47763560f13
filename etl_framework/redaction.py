"""Keep secret values out of every log line, error message, summary, ledger row and manifest.

The one choke point for secrets on their way out. Config loading registers each value
that came from a secret source (``${file:...}``, secret files in ``$ETL_SECRETS_DIR``,
Secret Manager, env vars or fields with secret-looking names, ``SecretStr`` fields);
`redact` replaces them with ``***`` in any text, and the log handler
(`etl_framework.logs`), the ``pipeline``/``etlctl`` error line, the ledger
(`etl_framework.state.store`), the run summary and the termination message all go
through it.

A registered secret is masked in every form it can take on its way out:

* raw, stripped of surrounding whitespace, and whitespace-squashed
  (``" ".join(text.split())``, what one-line error messages do);
* ``repr``/``ascii`` escaped (with and without escaped quotes) and JSON-escaped
  (``ensure_ascii`` on and off), and JSON of the ``repr`` form;
* URL-encoded: ``quote`` (``safe=""``, ``"/"`` and SQLAlchemy's ``" +"``) and
  ``quote_plus``; the password of a secret connection URL on its own, too;
* each line of a multi-line secret (a PEM key, a service-account JSON), in all the
  forms above, when the line is at least `MIN_LINE_LENGTH` characters long and not
  PEM armour (``-----BEGIN ...-----``): braces or headers alone are too common to mask;
* the values of a JSON secret whose keys look secret (``private_key``, ...).

A form shorter than `MIN_SECRET_LENGTH` characters once stripped of surrounding
whitespace is not masked, nor is any form of a value that short: it would mask
ordinary words. Passwords inside any URL (``scheme://user:PASSWORD@host``) and
``password=...`` parameters are masked whether registered or not.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import traceback
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote, quote_plus, unquote

MASK = "***"
MIN_SECRET_LENGTH = 4
"""Shorter forms (once stripped) are not masked: they would mask ordinary words."""
MIN_LINE_LENGTH = 8
"""A line of a multi-line secret is masked on its own from this many characters on."""
_MAX_PASSES = 4

_SECRET_WORDS = (
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "dsn",
    "authorization",
    "cookie",
    "apikey",
    "privatekey",
)
"""A name token containing one of these makes the name look secret."""
_SECRET_KEYS_QUALIFIERS = frozenset({"api", "access", "private", "secret", "signing", "hmac"})
"""``keys`` alone names key columns; ``api_keys`` holds secrets."""
_NOT_SECRET_KEY_QUALIFIERS = frozenset(
    {
        "primary",
        "partition",
        "sort",
        "cluster",
        "clustering",
        "merge",
        "unique",
        "foreign",
        "join",
        "dedup",
        "dedupe",
        "row",
        "natural",
        "surrogate",
        "business",
        "cache",
        "lookup",
        "group",
        "order",
        "distribution",
        "shard",
        "hash",
        "idempotency",
        "window",
        "sequence",
        "public",
    }
)
"""``<qualifier>_key`` names a column or a setting, not a secret (``partition_key``)."""
_REFERENCE_SUFFIXES = frozenset(
    {
        "file",
        "files",
        "filename",
        "path",
        "paths",
        "dir",
        "directory",
        "name",
        "names",
        "id",
        "ids",
        "column",
        "columns",
        "field",
        "fields",
        "type",
        "kind",
        "url",
        "uri",
        "endpoint",
        "header",
        "location",
        "bucket",
        "prefix",
        "mode",
        "algorithm",
        "format",
        "ttl",
        "seconds",
        "minutes",
        "hours",
        "timeout",
        "length",
        "size",
        "count",
        "version",
        "expiry",
        "expiration",
        "env",
    }
)
"""A name ending in one of these says where or what a secret is, not the secret itself:
``credentials_file``, ``key_path``, ``token_url``, ``secret_name``, ``key_columns``."""
_PATH_VARIABLES = frozenset({"GOOGLE_APPLICATION_CREDENTIALS"})
"""Well-known variables that hold the path of a key file, not the key."""
_NAME_TOKENS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

# scheme://user:PASSWORD@host (user may be empty; an unencoded '@' in the password is
# covered by matching up to the last '@' before the first '/').
_URL_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^\s/]+)(?P<tail>@)", re.I
)
# SQLAlchemy also reads an unencoded '/' in a password (up to the first '@'): masked in
# a second pass, unless it starts like a port and a path (``http://host:8080/a@b``).
_URL_PASSWORD_WITH_SLASH = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>(?![0-9]*/)[^\s@]+)(?P<tail>@)", re.I
)
# password=... in query strings and libpq keyword/value strings.
_PASSWORD_PARAM = re.compile(r"(?P<head>\b(?:password|passwd|pwd)=)(?P<pw>[^&;\s]+)", re.I)
_PEM_ARMOUR = re.compile(r"^-{3,}\s*(BEGIN|END)\b[^-]*-{3,}$")

_forms: set[str] = set()
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()


# --- names -----------------------------------------------------------------------


def _name_tokens(name: str) -> list[str]:
    return [token.lower() for token in _NAME_TOKENS.findall(name)]


def looks_secret(name: str) -> bool:
    """Whether a variable or field name suggests a secret value.

    Decided on the name's words (``snake_case``, ``camelCase``, ``dotted.paths`` use the
    last component): a word like password, secret, token, credential, dsn or a ``key``
    that is not a column's (``partition_key``) makes it secret, unless the last word
    says the value only points at the secret (``credentials_file``, ``key_path``,
    ``token_url``) or names columns (``key_columns``).
    """
    last = re.sub(r"(\[[0-9]+\])+$", "", name).rsplit(".", 1)[-1]
    if last.upper() in _PATH_VARIABLES:
        return False
    tokens = _name_tokens(last)
    if tokens[-2:] == ["key", "id"]:  # access_key_id: half of a key pair
        return True
    if not tokens or tokens[-1] in _REFERENCE_SUFFIXES:
        return False
    if any(word in token for token in tokens for word in _SECRET_WORDS):
        return True
    for index, token in enumerate(tokens):
        qualifier = tokens[index - 1] if index else ""
        if token == "key" and qualifier not in _NOT_SECRET_KEY_QUALIFIERS:
            return True
        if token == "keys" and qualifier in _SECRET_KEYS_QUALIFIERS:
            return True
    return False


# --- values ------------------------------------------------------------------------


def _squashed(text: str) -> str:
    return " ".join(text.split())


def _escaped_forms(text: str) -> set[str]:
    """``text`` as repr/ascii/JSON/URL encoders write it (without surrounding quotes)."""
    forms = {text}
    for escape in (repr, ascii):
        quoted = escape(text + "'\"")[1:-1]  # forces ' quoting: quotes escaped as \'
        body = quoted[: -len(escape("'\"")[1:-1])]
        forms.add(body)
        forms.add(body.replace("\\'", "'"))  # the other quoting leaves ' alone
    for ensure_ascii in (True, False):
        forms.add(json.dumps(text, ensure_ascii=ensure_ascii)[1:-1])
        forms.add(json.dumps(repr(text)[1:-1], ensure_ascii=ensure_ascii)[1:-1])
    for safe in ("", "/", " +"):
        forms.add(quote(text, safe=safe))
    forms.add(quote_plus(text, safe=""))
    return forms | {_squashed(form) for form in forms}


def _maskable(form: str) -> bool:
    return len(form.strip()) >= MIN_SECRET_LENGTH


def _is_armour(line: str) -> bool:
    return bool(_PEM_ARMOUR.match(line))


def _lines(value: str) -> set[str]:
    pieces = {line.strip() for line in (*value.splitlines(), *value.split("\n"))}
    return {p for p in pieces if len(p) >= MIN_LINE_LENGTH and not _is_armour(p) and p != value}


def _url_password(value: str) -> str | None:
    for pattern in (_URL_PASSWORD, _URL_PASSWORD_WITH_SLASH):
        match = pattern.search(value)
        if match:
            return match["pw"]
    return None


def _json_secrets(value: str) -> list[str]:
    """String values under secret-looking keys of a JSON document (a key file)."""
    if not value.lstrip().startswith(("{", "[")):
        return []
    try:
        document = json.loads(value)
    except ValueError:
        return []
    found: list[str] = []

    def walk(node: Any, key: str) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                walk(v, str(k))
        elif isinstance(node, list):
            for item in node:
                walk(item, key)
        elif isinstance(node, str) and looks_secret(key):
            found.append(node)

    walk(document, "")
    return found


def secret_forms(value: str) -> set[str]:
    """Every form of ``value`` that `redact` masks once it is registered."""
    if not _maskable(value):
        return set()
    parts = {value, value.strip(), _squashed(value), *_lines(value)}
    password = _url_password(value)
    if password:
        parts |= {password, unquote(password)}
    forms: set[str] = set()
    for inner in _json_secrets(value):
        if inner != value:
            forms |= secret_forms(inner)
    for part in parts:
        forms |= _escaped_forms(part)
    return {form for form in forms if _maskable(form)}


def register_secret(value: str) -> None:
    """Mask ``value`` (in every form, see the module docstring) from now on."""
    global _pattern
    forms = secret_forms(value)
    if not forms:
        return
    with _lock:
        if not forms <= _forms:
            _forms.update(forms)
            _pattern = None


def register_secrets(values: Iterable[str]) -> None:
    for value in values:
        register_secret(value)


def _compiled() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _forms:
            ordered = sorted(_forms, key=lambda f: (-len(f), f))  # longest wins at a position
            _pattern = re.compile("|".join(map(re.escape, ordered)))
        return _pattern


def redact(text: str) -> str:
    """``text`` with every registered secret (in any form) and URL password as ``***``."""
    pattern = _compiled()
    for _ in range(_MAX_PASSES):  # a mask may complete another secret: repeat until stable
        before = text
        if pattern is not None:
            text = pattern.sub(MASK, text)
        text = _URL_PASSWORD.sub(rf"\g<head>{MASK}\g<tail>", text)
        text = _URL_PASSWORD_WITH_SLASH.sub(rf"\g<head>{MASK}\g<tail>", text)
        text = _PASSWORD_PARAM.sub(rf"\g<head>{MASK}", text)
        if text == before:
            break
    return text


def redact_value(value: Any) -> Any:
    """``value`` with `redact` applied to every string in it (mappings, lists, keys too).

    Redact before encoding (JSON, YAML): the encoder's escapes would otherwise be
    between the masking and the text that leaves the process.
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redact(str(k)): redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        text = str(value)
        return value if redact(text) == text else redact(text)
    return redact(str(value))


def is_secret_value(value: str) -> bool:
    """Whether ``value`` holds a registered secret, a URL password or a password param."""
    return redact(value) != value


def install_excepthook() -> None:
    """Send the traceback of an uncaught exception (main thread or another) through `redact`.

    The entry points catch their own errors and print one redacted line; this covers a
    bug's traceback, whose messages and frames may quote a secret.
    """
    if getattr(sys.excepthook, "_redacting", False):
        return

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        sys.stderr.write(redact("".join(traceback.format_exception(kind, value, tb))))
        sys.stderr.flush()

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        sys.stderr.write(f"Exception in thread {name}:\n")
        hook(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)

    hook._redacting = True  # type: ignore[attr-defined]
    sys.excepthook = hook
    threading.excepthook = thread_hook


def forget_all() -> None:
    """Drop every registered secret (tests)."""
    global _pattern
    with _lock:
        _forms.clear()
        _pattern = None


__all__ = [
    "MASK",
    "MIN_LINE_LENGTH",
    "MIN_SECRET_LENGTH",
    "forget_all",
    "install_excepthook",
    "is_secret_value",
    "looks_secret",
    "redact",
    "redact_value",
    "register_secret",
    "register_secrets",
    "secret_forms",
]
