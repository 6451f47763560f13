"""``etlctl report``: a static, self-contained HTML page of a run ledger.

    ledger.read_history(url)      read-only queries (SQLite ``mode=ro``, PostgreSQL
            |                     read-only transactions): per transfer the days each
            v                     run covered, the last runs, their steps
    page.write_report(history, out)
                                  index.html (calendar, last runs, charts) and one
                                  runs/<run>.html per listed run, inline CSS/JS/SVG
                                  only, a strict Content-Security-Policy, every
                                  ledger value redacted then HTML-escaped

No server and no CDN: the folder opens from a disk or a bucket.
"""

from __future__ import annotations

from etl_framework.report.ledger import History, read_history
from etl_framework.report.page import write_report

__all__ = ["History", "read_history", "write_report"]
