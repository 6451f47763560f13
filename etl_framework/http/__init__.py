"""HTTP sources: auth plug-ins, retries, pagination, concurrent fetch, page cache.

Modules (all need the ``http`` extra except `config` and `errors`):

* `config`      typed config of connections and sources (pydantic only)
* `errors`      the errors HTTP sources raise, and URL redaction
* `auth`        requests ``AuthBase`` plug-ins: Hawk (mohawk), bearer, basic, API key
* `retry`       backoff with jitter, Retry-After, a cap on total waiting (tenacity)
* `pagination`  next URL, Link header, page number, offset, cursor
* `fetch`       ordered fetch of pages, sequential or with N workers
* `page_cache`  pages kept locally or in GCS so a retried run resumes

The connector is `etl_framework.connectors.http.HttpConnector`; transfers read
records through `etl_framework.sources.http.HttpSource`.
"""
