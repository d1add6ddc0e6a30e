"""The leaderboard's text views (README Markdown, CSV) and its cost figure, from the table model.

Text from submissions is escaped for its medium: Markdown specials and autolinks for the README,
spreadsheet formula starts for the CSV.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import numpy as np
from tabulate import tabulate

from lsdbench import PROTOCOL
from lsdbench.leaderboard.table import CI_LEVEL, SEED, Cell, Column, Cost, Entry, SuiteTable, flagged
from lsdbench.leaderboard.trust import legend

COST_FIGURE = re.compile(r"^cost_([a-z0-9][a-z0-9_-]{0,39})\.png$")  # cost_<suite>.png, written by the build
MIN_COST_ENTRIES = 2  # a cost figure of one point compares nothing


def fmt_score(x: float) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.4f}"


def fmt_params(n: int) -> str:
    """Parameter count for people: 0, 950, 1.2K, 8M, 650M, 3B."""
    n = int(n)
    for unit, scale in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)


def fmt_rate(x: float | None) -> str:
    """Residues per second for people: 950, 12.3K, 1.2M; '-' when unknown."""
    if x is None:
        return "-"
    for unit, scale in (("M", 10**6), ("K", 10**3)):
        if x >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def fmt_bytes(n: int | None) -> str:
    """Memory for people, in binary units: 512 MiB, 1.23 GiB; '-' when unknown."""
    if n is None:
        return "-"
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


COST_HEADERS = ("residues/s", "peak RSS", "peak GPU")
ENCODER_HEADERS = ("encoder", "parameters", "dim", "training data", "licence", "link", "description", "submission",
                   "lsdbench")


def cost_cells(cost: Cost) -> list[str]:
    return [fmt_rate(cost.residues_per_s), fmt_bytes(cost.peak_rss_bytes), fmt_bytes(cost.cuda_peak_bytes)]


def cost_text(table: SuiteTable) -> str | None:
    """What the cost columns mean and the machines behind them; None when no entry records cost."""
    machines = table.machines
    if not machines:
        return None
    listed = "; ".join(f"M{i + 1}: {m}" for i, m in enumerate(machines))
    return ("Cost, as recorded by the runs that produced the results (not checked; '-' where a result does not "
            "record it): residues/s is the median over the suite's tasks of the encoding throughput of the "
            "passes that computed the embeddings; peak RSS and peak GPU are the largest peak memory of those "
            "processes (resident memory; CUDA allocator). Measured on different machines, they compare with "
            f"care. Machines: {listed}.")


def cost_figure(table: SuiteTable) -> bytes | None:
    """PNG (deterministic bytes) of mean rank against throughput and peak memory; None with < 2 costed entries."""
    rows = [r for r in table.rows if r.entry.cost.residues_per_s is not None]
    if len(rows) < MIN_COST_ENTRIES:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    memory = [r for r in table.rows if r.entry.cost.peak_rss_bytes is not None]
    panels = [("residues_per_s", "encoding throughput (residues/s, log scale; right is cheaper)", rows)]
    if len(memory) >= MIN_COST_ENTRIES:
        panels.append(("peak_rss_bytes", "peak resident memory (GiB, log scale; left is cheaper)", memory))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.0 * len(panels), 4.4), dpi=110, squeeze=False)
    for ax, (field_name, label, panel_rows) in zip(axes[0], panels, strict=True):
        scale = 2**30 if field_name == "peak_rss_bytes" else 1
        for r in panel_rows:
            x = getattr(r.entry.cost, field_name) / scale
            ax.plot([x], [r.mean_rank], "o", color="C0")
            ax.annotate(f"{r.entry.name} ({r.entry.probe})", (x, r.mean_rank), textcoords="offset points",
                        xytext=(4, 3), fontsize=7)
        ax.set_xscale("log")
        if scale == 1:  # 10K, not 10^4: as in the table
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_rate(v)))
            ax.xaxis.set_minor_formatter(NullFormatter())
        else:  # 0.2, 0.5, 1 GiB rather than 2 x 10^-1
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.margins(x=0.25, y=0.1)  # room for the names beside the points
        ax.set_xlabel(label)
        ax.set_ylabel("mean rank over the suite's tasks")
        ax.invert_yaxis()  # best (rank 1) at the top
        ax.grid(alpha=0.3)
    fig.suptitle(f"Suite {table.suite}: mean rank against encoding cost", fontsize=10)
    # the costs are as reported by each submitter's run, possibly on different machines: say so on the figure
    fig.text(0.01, 0.01, "cost as recorded in the result files; machines are listed under the table",
             fontsize=7, color="0.35")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})  # no version stamp: identical bytes
    plt.close(fig)
    return buf.getvalue()


def cost_figure_name(suite: str) -> str:
    return f"cost_{suite}.png"


def cell_text(cell: Cell) -> str:
    return f"{fmt_score(cell.score)} [{fmt_score(cell.ci_low)}, {fmt_score(cell.ci_high)}]"


def column_title(col: Column) -> str:
    return f"{col.task} ({col.metric}{'' if col.higher_is_better else ', lower is better'})"


def encoder_entries(table: SuiteTable) -> list[Entry]:
    """One entry per encoder, its first by entry key: the rows of the table of encoders under a suite."""
    entries, seen = [], set()
    for row in sorted(table.rows, key=lambda r: r.entry.key):
        if row.entry.slug not in seen:
            seen.add(row.entry.slug)
            entries.append(row.entry)
    return entries


def method_text(n_ci: int, n_test: int, alpha: float) -> str:
    return (f"Each cell: the task's primary test metric, recomputed from the submitted predictions and the "
            f"registry's labels, with its {CI_LEVEL:.0%} CI (percentile bootstrap over test items, {n_ci} "
            f"resamples, seed {SEED}). Bold: best entry on the task. †: not distinguishable from the best "
            f"(paired bootstrap test against the best, at least {n_test} resamples, Holm-corrected over the task's "
            f"entries, alpha {alpha}). #: the entry's significance-aware rank on the task, a statistical tie group "
            f"rather than an order of point estimates: groups are formed top down, the best remaining entry leading "
            f"a group that every remaining entry not distinguishable from it joins (the same paired test, Holm over "
            f"that round's comparisons); a group of k entries after m better-placed ones shares the ranks m+1 to "
            f"m+k. Mean rank: over the suite's tasks, of the middle of each entry's tie-group ranks (ties "
            f"averaged), so entries that only noise tells apart keep the same ranks. "
            f"Protocol: {PROTOCOL}.")


def rank_mark(cell: Cell) -> str:
    """The cell's tie-group rank, as appended to its text: ' #1–3', or ' #4' for a group of one."""
    return f" #{cell.tie.text()}"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")
_AUTOLINK = re.compile(r"(?i)(://|www\.|@)")


def _md(text: Any) -> str:
    """Submission text as literal Markdown: nothing a submitter writes may become markup.

    One line; every character Markdown gives a meaning to is backslash-escaped (so ``![x](url)`` is
    not an image and ``[x](url)`` not a link), angle brackets become entities (no HTML), and the
    patterns GitHub turns into links by themselves (``https://``, ``www.``, e-mail ``@``) are broken
    by escaping their punctuation.
    """
    s = " ".join(str(text).split())
    s = _MD_SPECIAL.sub(r"\\\1", s).replace("<", "&lt;").replace(">", "&gt;")
    return _AUTOLINK.sub(lambda m: "".join("\\" + c if not c.isalnum() else c for c in m.group()), s)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(text: Any) -> str:
    """A text cell that no spreadsheet evaluates: a leading formula character gets a quote in front."""
    s = str(text)
    return "'" + s if s.startswith(_FORMULA_START) else s


def pending_text(pending: Sequence[str]) -> str:
    """The note of a partial leaderboard: a run that is still going, or was interrupted."""
    return (f"Partial leaderboard: the run that wrote it has not finished (still running, or interrupted). "
            f"Pending entries: {', '.join(pending)}. A row of a pending entry, if any, is from an earlier run.")


def render_markdown(tables: list[SuiteTable], figures: list[tuple[str, bytes]], figure_prefix: str, *,
                    n_ci: int, n_test: int, alpha: float, pending: Sequence[str] = ()) -> str:
    lines = ["# lsdbench leaderboard", "",
             "Generated by `lsdbench leaderboard build` from the files in `submissions/`; do not edit by "
             "hand. How to submit: [CONTRIBUTING.md](../CONTRIBUTING.md). The same tables, sortable: "
             "`index.html`; as data: `leaderboard.csv`.", "", method_text(n_ci, n_test, alpha), ""]
    if pending:
        lines += [f"**{_md(pending_text(pending))}**", ""]
    if not tables:
        lines += ["No submissions yet.", ""]
    for table in tables:
        lines += [f"## Suite `{table.suite}`", ""]
        headers = ["#", "encoder", "probe", "params", "dim", "mean rank"] + [column_title(c) for c in table.columns]
        headers += COST_HEADERS  # last, so the columns before them keep their places
        rows = []
        for row in table.rows:
            e = row.entry
            cells = []
            for col in table.columns:
                c = row.cells[col.task]
                text = cell_text(c)
                if c.best:
                    text = f"**{fmt_score(c.score)}** [{fmt_score(c.ci_low)}, {fmt_score(c.ci_high)}]"
                cells.append(text + (" †" if c.tied else "") + e.marks(col.task) + rank_mark(c))
            costs = cost_cells(e.cost)
            if e.cost.machines:
                costs[0] += f" ({', '.join(table.machine_marks(e.cost))})"
            rows.append([row.position, f"[{_md(e.name)}]({e.encoder['link']})", _md(e.probe),
                         fmt_params(e.encoder["parameters"]), e.encoder["dim"], f"{row.mean_rank:.2f}", *cells,
                         *costs])
        lines += [tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]
        lines += _markdown_flags(table)
        note = cost_text(table)
        if note is not None:
            lines += [_md(note), ""]
        if table.cost_figure is not None:
            name = cost_figure_name(table.suite)
            lines += [f"![mean rank against encoding cost]({quote(name)})", ""]
        lines += [f"### Encoders in `{table.suite}`", "", _markdown_encoders(table), ""]
    if figures:
        lines += ["## Figures", ""]
        for rel, _ in figures:
            lines += [f"![{_md(rel)}]({quote(figure_prefix + rel)})", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _markdown_encoders(table: SuiteTable) -> str:
    rows = [[_md(e.name), f"{int(e.encoder['parameters']):,}", e.encoder["dim"], _md(e.encoder["training_data"]),
             _md(e.encoder["licence"]), f"<{e.encoder['link']}>", _md(e.encoder.get("description", "")),
             f"`{e.source}`", e.lsdbench_version] for e in encoder_entries(table)]
    return tabulate(rows, headers=ENCODER_HEADERS, tablefmt="github", disable_numparse=True)


def _markdown_flags(table: SuiteTable) -> list[str]:
    """The legend and one bullet per flag, or nothing when no entry of the table is flagged."""
    found = flagged(table)
    if not found:
        return []
    return [_md(legend()), ""] + [f"- {_md(f'{e.name} ({e.probe}): {f.text()}')}" for e, f in found] + [""]


def render_csv(tables: list[SuiteTable]) -> str:
    """One row per entry; per task: score, CI, rank (the middle of its tie group's ranks), best / tied marks,
    adjusted p against the best; then the entry's flags ('; '-separated, empty when none), its cost, and per
    task its tie group (1: the best's) and the group's first and last rank."""
    tasks = [(t.suite, c.task) for t in tables for c in t.columns]
    header = ["suite", "position", "entry", "encoder", "probe", "parameters", "dim", "training_data", "licence",
              "link", "mean_rank"]
    for _, task in tasks:
        header += [task, f"{task}_ci_low", f"{task}_ci_high", f"{task}_rank", f"{task}_best", f"{task}_tied_best",
                   f"{task}_p_vs_best"]
    header.append("flags")
    # appended after flags, so readers that index the older columns by position still find them
    header += ["residues_per_s", "peak_rss_bytes", "cuda_peak_bytes", "machine"]
    for _, task in tasks:
        header += [f"{task}_tie_group", f"{task}_rank_low", f"{task}_rank_high"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for table in tables:
        for row in table.rows:
            e = row.entry
            text = [_csv_text(x) for x in (e.key, e.name, e.probe)]
            out = [table.suite, row.position, *text, int(e.encoder["parameters"]), e.encoder["dim"],
                   _csv_text(e.encoder["training_data"]), _csv_text(e.encoder["licence"]), e.encoder["link"],
                   f"{row.mean_rank:.4f}"]
            for suite, task in tasks:
                c = row.cells.get(task) if suite == table.suite else None
                if c is None:
                    out += [""] * 7
                    continue
                out += [f"{c.score:.6f}", f"{c.ci_low:.6f}", f"{c.ci_high:.6f}", f"{c.rank:g}", int(c.best),
                        int(c.tied), "" if c.p_adjusted is None else f"{c.p_adjusted:.6f}"]
            out.append(_csv_text("; ".join(f.text() for f in e.flags)))
            cost = e.cost
            out += ["" if cost.residues_per_s is None else f"{cost.residues_per_s:.1f}",
                    "" if cost.peak_rss_bytes is None else cost.peak_rss_bytes,
                    "" if cost.cuda_peak_bytes is None else cost.cuda_peak_bytes,
                    _csv_text("; ".join(cost.machines))]
            for suite, task in tasks:
                c = row.cells.get(task) if suite == table.suite else None
                out += [""] * 3 if c is None else [c.tie.group, c.tie.low, c.tie.high]
            writer.writerow(out)
    return buf.getvalue()
