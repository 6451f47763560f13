"""Service-account keys: fetch them from GCS for local runs, turn them into a Kubernetes Secret.

``keyscredentials/download_list.txt`` names the key files, one per line::

    # gs://BUCKET/OBJECT [LOCAL_NAME]
    gs://my-etl-keys/etl-runner.json key.json

`fetch_credentials` downloads each into ``keyscredentials/`` (mode 0600, git-ignored,
kept out of the image by ``.dockerignore``); `build_credentials_secret` makes the
Secret that the Job mounts read-only at ``/var/secrets/google`` (one Secret key per
file; the Job points GOOGLE_APPLICATION_CREDENTIALS at ``key.json``). Keys never go
into an image or a rendered manifest. With Workload Identity, none of this is needed:
set ``credentials_secret: null`` in the transfers file.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etl_framework.deploy.manifests import Manifest
from etl_framework.exceptions import ConfigError, ConfigValidationError

DOWNLOAD_LIST = "keyscredentials/download_list.txt"
KEYS_DIR = "keyscredentials"
_GS_URL = re.compile(r"^gs://(?P<bucket>[a-z0-9][a-z0-9._-]{1,220})/(?P<object>.+)$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


@dataclass(frozen=True)
class KeySource:
    """One line of the download list."""

    bucket: str
    object_name: str
    local_name: str

    @property
    def url(self) -> str:
        return f"gs://{self.bucket}/{self.object_name}"


def parse_download_list(text: str, location: str = DOWNLOAD_LIST) -> list[KeySource]:
    """Parse the download list; every bad line is reported at once.

    Raises:
        ConfigValidationError: A line is not ``gs://bucket/object [name]``, a name is not
            a valid file/Secret key name, or two lines use the same name.
    """
    sources: list[KeySource] = []
    problems: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"line {number}"
        parts = line.split()
        match = _GS_URL.match(parts[0])
        if match is None or len(parts) > 2:
            problems.append((where, f"expected 'gs://BUCKET/OBJECT [LOCAL_NAME]', got {line!r}"))
            continue
        name = parts[1] if len(parts) == 2 else match["object"].rsplit("/", 1)[-1]
        if not _SECRET_KEY.match(name) or name in (".", ".."):
            problems.append((where, f"{name!r} is not a valid key file name ([-._a-zA-Z0-9]+)"))
            continue
        if name in seen:
            problems.append((where, f"{name!r} is already used on line {seen[name]}"))
            continue
        seen[name] = number
        sources.append(KeySource(match["bucket"], match["object"], name))
    if problems:
        raise ConfigValidationError(location, problems)
    return sources


def read_download_list(path: str | Path = DOWNLOAD_LIST) -> list[KeySource]:
    """`parse_download_list` of a file (ConfigError if it cannot be read)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_download_list(text, str(path))


def fetch_credentials(
    sources: Iterable[KeySource], dest: str | Path = KEYS_DIR, *, client: Any = None
) -> list[Path]:
    """Download each key file into ``dest`` (created 0700; files 0600).

    Args:
        sources: From `read_download_list`.
        dest: Target directory.
        client: A ``google.cloud.storage.Client``; default: the GCS connector's client
            (application default credentials; honours STORAGE_EMULATOR_HOST).
    """
    if client is None:
        from etl_framework.gcp.storage import storage_client

        client = storage_client()
    target = Path(dest)
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    written: list[Path] = []
    for source in sources:
        path = target / source.local_name
        data = client.bucket(source.bucket).blob(source.object_name).download_as_bytes()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(path, 0o600)
        written.append(path)
    return written


def build_credentials_secret(
    key_files: Sequence[str | Path], *, name: str, namespace: str
) -> Manifest:
    """An Opaque Secret with one key per file (the file name), values base64-encoded.

    This object holds the keys themselves: apply it to the cluster, never write it
    into the repository or a rendered manifest.

    Raises:
        ConfigError: A file is missing or empty.
    """
    data: dict[str, str] = {}
    for file in key_files:
        path = Path(file)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"key file {path} is missing: run `invoke fetch-credentials` first"
            ) from exc
        if not content:
            raise ConfigError(f"key file {path} is empty")
        data[path.name] = base64.b64encode(content).decode("ascii")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "etl-framework"},
        },
        "data": data,
    }


def apply_secret(secret: Manifest, core: Any) -> str:
    """Create the Secret, or replace it if it exists. Returns "created" or "replaced"."""
    from kubernetes.client.exceptions import ApiException

    meta = secret["metadata"]
    try:
        core.create_namespaced_secret(meta["namespace"], secret, _request_timeout=30)
        return "created"
    except ApiException as exc:
        if exc.status != 409:
            raise
    core.replace_namespaced_secret(meta["name"], meta["namespace"], secret, _request_timeout=30)
    return "replaced"
