"""Render a `History` as static HTML: ``index.html`` and ``runs/<run>.html``.

Self-contained (inline CSS, JS and SVG; no font, image or script from anywhere) and
locked down by a Content-Security-Policy that allows only the page's own style and
script (by hash). Every value from the ledger is redacted (registered secrets) and
HTML-escaped before it reaches the page: a ledger row cannot inject markup.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import re
from pathlib import Path

from etl_framework import redaction
from etl_framework.report.ledger import ONE_DAY, History, RunRow, StepRow, TransferHistory

STATUSES = ("succeeded", "failed", "running", "skipped", "never")

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1f2328;background:#fff}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.6em 0 .4em}
.meta{color:#59636e;margin:0 0 1em}
nav a{margin-right:1em}
table{border-collapse:collapse;margin:.5em 0;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #d1d9e0;padding:.25em .6em;text-align:left;vertical-align:top}
td.n,th.n{text-align:right}
tr.run{cursor:pointer}tr.run:hover{background:#f6f8fa}
.error{color:#b42318;max-width:40em;overflow-wrap:anywhere}
.calendar{display:grid;grid-template-rows:repeat(7,12px);grid-auto-flow:column;
grid-auto-columns:12px;gap:2px;margin:.4em 0}
.day{display:block;width:12px;height:12px;border-radius:2px}
.s-succeeded{background:#2da44e}.s-failed{background:#cf222e}.s-running{background:#bf8700}
.s-skipped{background:#8c959f}.s-never{background:#eff2f5}.pad{visibility:hidden}
.legend span.day{display:inline-block;vertical-align:middle;margin:0 .3em 0 1em}
.charts{display:flex;gap:2em;flex-wrap:wrap}
.chart figcaption{color:#59636e;font-size:.9em}
.status-failed{color:#cf222e;font-weight:600}.status-succeeded{color:#1a7f37}
.hidden{display:none}
"""

SCRIPT = """
document.querySelectorAll('tr.run').forEach(function (row) {
  row.addEventListener('click', function (event) {
    if (event.target.tagName !== 'A') { window.location.href = row.dataset.href; }
  });
});
var only = document.getElementById('failed-only');
if (only) {
  only.addEventListener('change', function () {
    document.querySelectorAll('tr.run').forEach(function (row) {
      row.classList.toggle('hidden', only.checked && row.dataset.status !== 'failed');
    });
  });
}
"""


def esc(value: object) -> str:
    """A ledger value as safe HTML text: secrets masked first, then escaped."""
    return html.escape(redaction.redact("" if value is None else str(value)), quote=True)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def content_security_policy(script: bool) -> str:
    return "; ".join(
        [
            "default-src 'none'",
            f"style-src {_sha256(CSS)}",
            f"script-src {_sha256(SCRIPT) if script else chr(39) + 'none' + chr(39)}",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def run_file(run_id: str) -> str:
    """The run page's file name: the run id when it is a plain id, else a hash of it."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", run_id):
        return f"{run_id}.html"
    return f"run-{hashlib.sha256(run_id.encode()).hexdigest()[:20]}.html"


def _head(title: str, script: bool) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{content_security_policy(script)}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        '<link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
    )


def _foot(script: bool) -> str:
    return (f"<script>{SCRIPT}</script>" if script else "") + "</body></html>\n"


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}s"


def _version(run: RunRow) -> str:
    return " ".join(v for v in (run.image_tag, run.code_version) if v)


def _calendar(history: History, transfer: TransferHistory) -> str:
    if history.first_day is None or history.last_day is None:
        return ""
    cells = ['<span class="day pad"></span>'] * history.first_day.weekday()  # Monday first
    day = history.first_day
    while day <= history.last_day:
        status = transfer.days.get(day, "never")
        label = f"{day.isoformat()} {status}"
        cells.append(
            f'<span class="day s-{esc(status if status in STATUSES else "failed")}" '
            f'data-day="{day.isoformat()}" data-status="{esc(status)}" '
            f'title="{esc(label)}" aria-label="{esc(label)}"></span>'
        )
        day += ONE_DAY
    return (
        f'<div class="calendar" role="img" aria-label="covered days of {esc(transfer.name)}" '
        f'data-transfer="{esc(transfer.name)}">{"".join(cells)}</div>'
    )


def _chart(title: str, values: list[float], unit: str) -> str:
    width, height = 320, 80
    if not values:
        return ""
    top = max(values) or 1.0
    step = width / (len(values) - 1) if len(values) > 1 else 0.0
    points = " ".join(
        f"{i * step:.1f},{height - v / top * (height - 4) - 2:.1f}" for i, v in enumerate(values)
    )
    return (
        f'<figure class="chart"><svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">'
        f'<rect width="{width}" height="{height}" fill="#f6f8fa"/>'
        f'<polyline fill="none" stroke="#0969da" stroke-width="1.5" points="{points}"/></svg>'
        f"<figcaption>{esc(title)} (last {len(values)} runs, max {top:,.1f}{unit})"
        "</figcaption></figure>"
    )


def _runs_table(transfer: TransferHistory) -> str:
    rows = []
    for run in transfer.last_runs:
        href = f"runs/{run_file(run.run_id)}"
        rows.append(
            f'<tr class="run" data-href="{esc(href)}" data-status="{esc(run.status)}">'
            f'<td><a href="{esc(href)}">{esc(_when(run.started_at))}</a></td>'
            f'<td class="status-{esc(run.status)}">{esc(run.status)}</td>'
            f"<td>{esc(run.mode)}</td><td>{esc(run.window)}</td>"
            f'<td class="n">{esc(_seconds(run.seconds))}</td>'
            f'<td class="n">{run.rows_read:,}</td><td class="n">{run.rows_written:,}</td>'
            f"<td>{esc(_version(run))}</td>"
            f'<td class="error">{esc(run.error or "")}</td></tr>'
        )
    return (
        '<table class="runs"><thead><tr><th>started (UTC)</th><th>status</th><th>mode</th>'
        '<th>window</th><th class="n">duration</th><th class="n">rows read</th>'
        '<th class="n">rows written</th><th>image / version</th><th>error</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _transfer_section(history: History, transfer: TransferHistory) -> str:
    ok = sum(1 for s in transfer.days.values() if s == "succeeded")
    runs = transfer.chart_runs
    return (
        f'<section class="transfer" id="t-{esc(transfer.name)}">'
        f"<h2>{esc(transfer.name)}</h2>"
        f'<p class="meta">{transfer.runs_total:,} runs; {ok:,} days covered by a succeeded '
        f"run between {history.first_day} and {history.last_day}</p>"
        f"{_calendar(history, transfer)}"
        '<div class="charts">'
        f"{_chart('duration', [r.seconds or 0.0 for r in runs], 's')}"
        f"{_chart('rows written', [float(r.rows_written) for r in runs], '')}"
        "</div>"
        f"<h3>Last {len(transfer.last_runs)} runs</h3>{_runs_table(transfer)}</section>"
    )


def _legend() -> str:
    return (
        '<p class="legend">'
        + "".join(f'<span class="day s-{s}"></span>{s}' for s in STATUSES)
        + '<label><input type="checkbox" id="failed-only"> only failed runs</label></p>'
    )


def index_page(history: History) -> str:
    nav = "".join(f'<a href="#t-{esc(t.name)}">{esc(t.name)}</a>' for t in history.transfers)
    body = "".join(_transfer_section(history, t) for t in history.transfers)
    if not history.transfers:
        body = "<p>The ledger holds no runs yet.</p>"
    return (
        _head("etl_framework: runs and coverage", script=True)
        + "<header><h1>Runs and coverage</h1>"
        f'<p class="meta">ledger {esc(history.location)}, {history.runs_total:,} runs, '
        f"generated {esc(_when(history.generated_at))} UTC</p><nav>{nav}</nav>"
        f"{_legend()}</header><main>{body}</main>" + _foot(script=True)
    )


def run_page(run: RunRow, steps: list[StepRow]) -> str:
    facts = [
        ("transfer", run.transfer),
        ("run id", run.run_id),
        ("orchestrator run", run.orchestrator_run_id or "none (started by hand)"),
        ("status", run.status),
        ("exit code", run.exit_code),
        ("mode", run.mode),
        ("execution date", run.execution_date),
        ("window", run.window),
        ("started (UTC)", _when(run.started_at)),
        ("finished (UTC)", _when(run.finished_at)),
        ("duration", _seconds(run.seconds)),
        ("rows read", f"{run.rows_read:,}"),
        ("rows written", f"{run.rows_written:,}"),
        ("image", run.image_tag),
        ("code version", run.code_version),
        ("host", run.host),
        ("error", run.error),
    ]
    bigquery = any(s.bigquery and s.bigquery[0] for s in steps)
    rows = "".join(
        f'<tr class="step" data-step="{esc(s.step)}"><td>{esc(s.step)}</td>'
        f"<td>{esc(s.status or '')}</td>"
        f'<td class="n">{s.seconds:,.3f}s</td>'
        f'<td class="n">{"" if s.rows_read is None else f"{s.rows_read:,}"}</td>'
        f'<td class="n">{"" if s.rows_written is None else f"{s.rows_written:,}"}</td>'
        + (f'<td class="bq">{esc(_bigquery_cost(s))}</td>' if bigquery else "")
        + "</tr>"
        for s in steps
    )
    return (
        _head(f"run {run.run_id} of {run.transfer}", script=False)
        + f'<p><a href="../index.html#t-{esc(run.transfer)}">back to all runs</a></p>'
        f'<h1>Run of {esc(run.transfer)}</h1><table class="facts">'
        + "".join(f"<tr><th>{k}</th><td>{esc(v)}</td></tr>" for k, v in facts)
        + '</table><h2>Steps</h2><table class="steps"><thead><tr><th>step</th><th>status</th>'
        '<th class="n">seconds</th><th class="n">rows read</th><th class="n">rows written</th>'
        + ("<th>BigQuery</th>" if bigquery else "")
        + f"</tr></thead><tbody>{rows}</tbody></table>"
        + _foot(script=False)
    )


def _bigquery_cost(step: StepRow) -> str:
    """The step's BigQuery jobs and what they cost (empty: it ran none)."""
    from etl_framework.report.cost import describe_cost

    jobs, load_jobs, processed, billed, slot_ms = step.bigquery
    return describe_cost(jobs, load_jobs, processed, billed, slot_ms) if jobs else ""


def write_report(history: History, out: str | Path) -> Path:
    """Write ``index.html`` and the run pages under ``out``; return the index's path."""
    folder = Path(out)
    (folder / "runs").mkdir(parents=True, exist_ok=True)
    for transfer in history.transfers:
        for run in transfer.last_runs:
            page = run_page(run, history.steps.get(run.run_id, []))
            (folder / "runs" / run_file(run.run_id)).write_text(page, encoding="utf-8")
    index = folder / "index.html"
    index.write_text(index_page(history), encoding="utf-8")
    return index
