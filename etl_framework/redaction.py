"""Keep secret values out of every log line, error message and summary.

Config loading registers each value that came from a secret source (secret files,
Secret Manager, env vars with secret-looking names, ``SecretStr`` fields). The
logging filter installed by `etl_framework.logs` replaces them with ``***``.
"""

from __future__ import annotations

import re
import threading

MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words
SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL|PRIVATE|DSN|AUTHORIZATION|COOKIE)", re.I
)
# scheme://user:PASSWORD@host (user may be empty; an unencoded '@' in the password is
# covered by matching up to the last '@' before the first '/').
_URL_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^\s/]+)(?P<tail>@)", re.I
)
# password=... in query strings and libpq keyword/value strings.
_PASSWORD_PARAM = re.compile(r"(?P<head>\b(?:password|passwd|pwd)=)(?P<pw>[^&;\s]+)", re.I)

_secrets: set[str] = set()
_lock = threading.Lock()


def looks_secret(name: str) -> bool:
    """Whether a variable or field name suggests a secret value."""
    return bool(SECRET_NAME.search(name))


def register_secret(value: str) -> None:
    """Mask ``value`` wherever it would be logged from now on."""
    if len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret and URL password replaced by ``***``."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _URL_PASSWORD.sub(rf"\g<head>{MASK}\g<tail>", text)
    return _PASSWORD_PARAM.sub(rf"\g<head>{MASK}", text)


def forget_all() -> None:
    """Drop every registered secret (tests)."""
    with _lock:
        _secrets.clear()
