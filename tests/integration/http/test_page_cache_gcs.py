"""The page cache under a gs:// prefix, on the GCS emulator."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from etl_framework.connectors.http import HttpConnector
from etl_framework.http.config import HttpSourceConfig
from etl_framework.http.errors import HttpUnavailableError
from etl_framework.http.page_cache import GcsPageCache, open_page_cache
from etl_framework.http.pagination import PageRequest
from etl_framework.sources.http import HttpSource
from tests.support.hawk_server import DATASET_PATH, HawkTestServer

pytestmark = pytest.mark.gcs


def test_gcs_cache_put_get_clear(gcs_bucket: str) -> None:
    cache = open_page_cache(f"gs://{gcs_bucket}/etl-cache", "t/truncate/all/20240115/abc")
    assert isinstance(cache, GcsPageCache)
    request = PageRequest(0, "https://a.test/x", (("page", "1"),))
    assert cache.get(request) is None
    cache.put(request, b'{"results": [1]}', {"content-type": "application/json"})
    hit = cache.get(request)
    assert hit is not None and hit.body == b'{"results": [1]}'
    assert cache.get(PageRequest(0, "https://a.test/other")) is None
    assert cache.count() == 1
    cache.clear()
    assert cache.count() == 0 and cache.get(request) is None


def test_source_resumes_from_gcs(
    gcs_bucket: str,
    hawk_api: Callable[..., HawkTestServer],
    connect: Callable[..., HttpConnector],
) -> None:
    server = hawk_api(records=500)
    connector = connect(server)
    config = HttpSourceConfig(connection="api", path=DATASET_PATH)
    location = f"gs://{gcs_bucket}/cache"
    key = "omis_dataset/truncate/all/20240115/src"

    server.fail(3, status=503, times=None)
    first = HttpSource(connector, config, cache=open_page_cache(location, key))
    with pytest.raises(HttpUnavailableError):
        list(first.records())
    server.heal()
    second = HttpSource(connector, config, cache=open_page_cache(location, key))
    assert len(list(second.records())) == 500
    assert [server.hits[p] for p in range(5)] == [1, 1, 1, 4 + 1, 1]  # 4 attempts, then 1 on resume
    second.clear_cache()
    assert second.cache is not None and second.cache.count() == 0
