"""The static, self-contained leaderboard page: inline CSS, a small inline vanilla-JS column sort and
figures embedded as data URIs, so it works offline and loads nothing from anywhere.

A Content-Security-Policy allows only this page's own style and script (by hash) and data: images;
every text from a submission is HTML-escaped, and links are http(s) URLs checked by the schema.
Sorting: click a column header (again to reverse), or open the page with ``#sort=KEY`` or
``#sort=KEY:asc|desc`` (KEY: ``position``, ``encoder``, ``probe``, ``parameters``, ``dim``,
``mean_rank``, a task name, or a cost column: ``residues_per_s``, ``peak_rss``, ``peak_gpu``), which is
applied to every table with that column. Unknown costs ('-') sort last in either direction.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from html import escape

from lsdbench import __version__
from lsdbench.leaderboard.render import (
    ENCODER_HEADERS,
    cell_text,
    column_title,
    cost_cells,
    cost_figure_name,
    cost_text,
    encoder_entries,
    fmt_params,
    pending_text,
    rank_mark,
)
from lsdbench.leaderboard.table import Cell, Entry, SuiteTable, flagged
from lsdbench.leaderboard.trust import legend

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem; color: #1b1f24; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2rem; } p.method { max-width: 60rem; color: #444; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #d0d7de; padding: 0.35rem 0.6rem; text-align: left; white-space: nowrap; }
th { background: #f6f8fa; }
table.lb th { cursor: pointer; user-select: none; }
table.lb th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.lb th[aria-sort="descending"]::after { content: " \\25BC"; }
table.meta td { white-space: normal; max-width: 20rem; overflow-wrap: anywhere; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { font-weight: bold; background: #e6f4ea; }
td.tied { background: #f1f8f3; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #d0d7de; }
footer { margin-top: 2rem; color: #666; font-size: 0.8rem; }
""".strip()

# Kept ES5-simple: no modules, no network, no dependencies.
JS = """
(function () {
  "use strict";
  function value(row, col, type) {
    var v = row.cells[col].getAttribute("data-value");
    if (type === "num") { var x = parseFloat(v); return isNaN(x) ? null : x; }
    return (v || "").toLowerCase();
  }
  function sortTable(table, key, dir) {
    var heads = table.tHead.rows[0].cells, col = -1, i;
    for (i = 0; i < heads.length; i++) { if (heads[i].getAttribute("data-key") === key) { col = i; } }
    if (col < 0) { return false; }
    var th = heads[col], type = th.getAttribute("data-type");
    if (dir !== "asc" && dir !== "desc") { dir = th.getAttribute("data-order"); }
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, col, type), y = value(b, col, type), c = 0;
      if (x === null || y === null) { c = (x === null) - (y === null); }
      else { c = x < y ? -1 : (x > y ? 1 : 0); if (dir === "desc") { c = -c; } }
      return c || (parseInt(a.getAttribute("data-index"), 10) - parseInt(b.getAttribute("data-index"), 10));
    });
    for (i = 0; i < rows.length; i++) { body.appendChild(rows[i]); }
    for (i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", dir === "asc" ? "ascending" : "descending");
    table.setAttribute("data-sorted", key + ":" + dir);
    return true;
  }
  var tables = document.querySelectorAll("table.lb");
  function fromHash() {
    var m = /^#sort=([A-Za-z0-9_.-]+)(?::(asc|desc))?$/.exec(window.location.hash);
    if (!m) { return; }
    for (var t = 0; t < tables.length; t++) { sortTable(tables[t], m[1], m[2]); }
  }
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      function activate() {
        var key = th.getAttribute("data-key"), current = table.getAttribute("data-sorted") || "";
        var dir = th.getAttribute("data-order");
        if (current === key + ":" + dir) { dir = dir === "asc" ? "desc" : "asc"; }
        sortTable(table, key, dir);
      }
      th.addEventListener("click", activate);
      th.addEventListener("keydown", function (ev) { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); activate(); } });
    });
  });
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
""".strip()


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _attr(value) -> str:
    return escape(str(value), quote=True)


def _th(key: str, label: str, *, type_: str, order: str, title: str = "") -> str:
    extra = f' title="{_attr(title)}"' if title else ""
    return (f'<th scope="col" tabindex="0" data-key="{_attr(key)}" data-type="{type_}" data-order="{order}"'
            f"{extra}>{escape(label)}</th>")


def _num(x: float) -> str:
    return repr(float(x))  # full precision for sorting; shortest round-trip repr is stable


def _cell(cell: Cell, entry: Entry, task: str) -> str:
    flags = [f for f in entry.flags if f.task == task]
    classes = ["num"] + [name for name, on in (("best", cell.best), ("tied", cell.tied), ("flagged", flags)) if on]
    mark = (" †" if cell.tied else "") + entry.marks(task) + rank_mark(cell)
    title = "best on this task" if cell.best else (
        f"delta vs best {cell.delta:+.4f}, Holm-adjusted p {cell.p_adjusted:.4f}" if cell.p_adjusted is not None else "")
    group = f"tie group {cell.tie.group}, ranks {cell.tie.text()}"
    title = "; ".join(([title] if title else []) + [group] + [f.text() for f in flags])
    return (f'<td class="{" ".join(classes)}" data-value="{_num(cell.score)}" title="{_attr(title)}">'
            f"{escape(cell_text(cell))}{escape(mark)}</td>")


# (key, header, first sort direction, tooltip): after the task columns, so those keep their places
COST_COLUMNS = (("residues_per_s", "residues/s", "desc",
                 "encoding throughput: median over the suite's tasks, as recorded in the results; hover a cell for "
                 "the machine"),
                ("peak_rss", "peak RSS", "asc", "largest peak resident memory of the processes that encoded"),
                ("peak_gpu", "peak GPU", "asc", "largest peak CUDA memory of the processes that encoded"))


def _cost_cells(table: SuiteTable, entry: Entry) -> list[str]:
    cost = entry.cost
    values = (cost.residues_per_s, cost.peak_rss_bytes, cost.cuda_peak_bytes)
    where = "; ".join(f"{mark}: {m}" for mark, m in zip(table.machine_marks(cost), cost.machines, strict=True))
    title = f"measured on {where}" if where else "not recorded"
    return [f'<td class="num" data-value="{"" if v is None else _num(v)}" title="{_attr(title)}">{escape(text)}</td>'
            for v, text in zip(values, cost_cells(cost), strict=True)]


def _table(table: SuiteTable) -> str:
    heads = [_th("position", "#", type_="num", order="asc"),
             _th("encoder", "encoder", type_="text", order="asc"),
             _th("probe", "probe", type_="text", order="asc"),
             _th("parameters", "params", type_="num", order="asc"),
             _th("dim", "dim", type_="num", order="asc"),
             _th("mean_rank", "mean rank", type_="num", order="asc",
                 title="mean over tasks of the tie-group ranks, ties averaged")]
    for col in table.columns:
        heads.append(_th(col.task, column_title(col), type_="num", order="desc" if col.higher_is_better else "asc"))
    heads += [_th(key, label, type_="num", order=order, title=title) for key, label, order, title in COST_COLUMNS]
    body = []
    for k, row in enumerate(table.rows):
        e = row.entry
        link = e.encoder["link"]
        cells = [f'<td class="num" data-value="{row.position}">{row.position}</td>',
                 f'<td data-value="{_attr(e.name)}"><a href="{_attr(link)}" rel="noopener noreferrer">'
                 f"{escape(e.name)}</a></td>",
                 f'<td data-value="{_attr(e.probe)}">{escape(e.probe)}</td>',
                 f'<td class="num" data-value="{int(e.encoder["parameters"])}" title="{int(e.encoder["parameters"]):,}">'
                 f'{escape(fmt_params(e.encoder["parameters"]))}</td>',
                 f'<td class="num" data-value="{int(e.encoder["dim"])}">{int(e.encoder["dim"])}</td>',
                 f'<td class="num" data-value="{_num(row.mean_rank)}">{row.mean_rank:.2f}</td>']
        cells += [_cell(row.cells[col.task], e, col.task) for col in table.columns]
        cells += _cost_cells(table, e)
        body.append(f'<tr data-entry="{_attr(e.key)}" data-index="{k}">' + "".join(cells) + "</tr>")
    return (f'<table class="lb" id="table-{_attr(table.suite)}" data-suite="{_attr(table.suite)}">\n'
            f"<thead><tr>{''.join(heads)}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>")


def _encoder_row(e: Entry) -> str:
    return ("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in (
        e.name, f"{int(e.encoder['parameters']):,}", e.encoder["dim"], e.encoder["training_data"],
        e.encoder["licence"])) + f'<td><a href="{_attr(e.encoder["link"])}" rel="noopener noreferrer">'
        f'{escape(e.encoder["link"])}</a></td><td>{escape(e.encoder.get("description", ""))}</td>'
        f"<td><code>{escape(e.source)}</code></td><td>{escape(e.lsdbench_version)}</td></tr>")


def _encoders(table: SuiteTable) -> str:
    rows = [_encoder_row(e) for e in encoder_entries(table)]
    head = "".join(f"<th>{h}</th>" for h in ENCODER_HEADERS)
    return f'<table class="meta">\n<thead><tr>{head}</tr></thead>\n<tbody>\n' + "\n".join(rows) + "\n</tbody>\n</table>"


def _flags(table: SuiteTable) -> list[str]:
    """The legend and a list of the table's flags; nothing when no entry is flagged."""
    found = flagged(table)
    if not found:
        return []
    items = "\n".join(f"<li>{escape(f'{e.name} ({e.probe}): {f.text()}')}</li>" for e, f in found)
    return [f'<p class="flags">{escape(legend())}</p>\n<ul class="flags">\n{items}\n</ul>']


def _cost(table: SuiteTable) -> list[str]:
    """What the cost columns mean, the machines, and the cost figure; nothing when no entry records cost."""
    note = cost_text(table)
    parts = [] if note is None else [f'<p class="cost">{escape(note)}</p>']
    if table.cost_figure is not None:
        uri = "data:image/png;base64," + base64.b64encode(table.cost_figure).decode("ascii")
        name = cost_figure_name(table.suite)
        parts.append(f'<figure class="cost"><img src="{uri}" alt="mean rank against encoding cost">'
                     f"<figcaption>{escape(name)}</figcaption></figure>")
    return parts


def render_html(tables: list[SuiteTable], figures: list[tuple[str, bytes]], *, method: str,
                pending: Sequence[str] = ()) -> str:
    csp = (f"default-src 'none'; img-src data:; style-src {_csp_hash(CSS)}; script-src {_csp_hash(JS)}; "
           f"base-uri 'none'; form-action 'none'")
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{csp}">',  # constant text: no escaping needed
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>lsdbench leaderboard</title>", f"<style>{CSS}</style>", "</head>", "<body>",
             "<h1>lsdbench leaderboard</h1>", f'<p class="method">{escape(method)}</p>',
             "<p>Click a column header to sort (again to reverse). How to submit: CONTRIBUTING.md in the "
             "lsdbench repository.</p>"]
    if pending:
        parts.append(f'<p id="pending"><strong>{escape(pending_text(pending))}</strong></p>')
    if not tables:
        parts.append('<p id="empty">No submissions yet.</p>')
    for table in tables:
        parts += [f'<section id="suite-{_attr(table.suite)}">', f"<h2>Suite <code>{escape(table.suite)}</code></h2>",
                  _table(table), *_flags(table), *_cost(table),
                  f"<h3>Encoders in <code>{escape(table.suite)}</code></h3>", _encoders(table), "</section>"]
    if figures:
        parts += ['<section id="figures">', "<h2>Figures</h2>"]
        for rel, data in figures:
            uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
            parts.append(f'<figure><img src="{uri}" alt="{_attr(rel)}"><figcaption>{escape(rel)}</figcaption></figure>')
        parts.append("</section>")
    parts += [f"<footer>Built by lsdbench {escape(__version__)} (<code>lsdbench leaderboard build</code>).</footer>",
              f"<script>{JS}</script>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"
