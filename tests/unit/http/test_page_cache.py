"""The local page cache (the gs:// one is tested against the GCS emulator)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from etl_framework.http.page_cache import LocalPageCache, cache_prefix, open_page_cache
from etl_framework.http.pagination import PageRequest

REQUEST = PageRequest(2, "https://api.test/x", (("page", "3"),))


def test_cache_prefix_is_stable_per_run_and_separates_sources() -> None:
    day = dt.date(2024, 1, 15)
    key = cache_prefix("omis", "delta", "20240101..20240116", day, "https://a/x?page=1")
    assert key.startswith("omis/delta/20240101_20240116/20240115/")
    assert key == cache_prefix("omis", "delta", "20240101..20240116", day, "https://a/x?page=1")
    assert key != cache_prefix("omis", "delta", "20240101..20240116", day, "https://a/y?page=1")
    assert key != cache_prefix("omis", "truncate", "all", day, "https://a/x?page=1")


def test_put_get_count_clear(tmp_path: Path) -> None:
    cache = open_page_cache(str(tmp_path), "t/m/all/20240115/abc")
    assert isinstance(cache, LocalPageCache)
    assert cache.get(REQUEST) is None and cache.count() == 0
    cache.put(REQUEST, b'{"results": []}', {"link": "<x>; rel=next"})
    hit = cache.get(REQUEST)
    assert hit is not None and hit.body == b'{"results": []}'
    assert hit.headers == {"link": "<x>; rel=next"}
    assert cache.count() == 1
    cache.clear()
    assert cache.get(REQUEST) is None and cache.count() == 0
    assert list(tmp_path.iterdir()) == []  # empty key directories are removed too


def test_a_page_for_another_request_is_a_miss(tmp_path: Path) -> None:
    cache = LocalPageCache(tmp_path / "c")
    cache.put(REQUEST, b"{}", {})
    other = PageRequest(2, "https://api.test/x", (("page", "99"),))
    assert cache.get(other) is None


def test_a_torn_or_corrupt_page_is_a_miss(tmp_path: Path) -> None:
    cache = LocalPageCache(tmp_path / "c")
    cache.put(REQUEST, b'{"results": [1]}', {})
    (tmp_path / "c" / "000002.body").write_bytes(b'{"results": [2]}')
    assert cache.get(REQUEST) is None
    (tmp_path / "c" / "000002.meta.json").write_text("{not json")
    assert cache.get(REQUEST) is None
    (tmp_path / "c" / "000002.meta.json").unlink()
    assert cache.get(REQUEST) is None
    assert not list((tmp_path / "c").glob(".tmp-*"))
