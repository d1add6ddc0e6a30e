"""Build the leaderboard (README.md, leaderboard.csv, index.html) from validated submissions.

Every number shown is recomputed here from the submitted predictions and the registry's labels: the
primary metric, a percentile-bootstrap 95 % CI, ranks, and paired tests of each entry against the
task's best entry (Holm-corrected over the entries of the task), and the trust flags of trust.py
(near-perfect scores, predictions identical to another encoder's), shown as marks with a legend.
Encoding cost (throughput, peak memory, machine) is read from the results' optional ``cost``, as
reported by the submitter's run: it is shown, never checked, and never changes a rank; a suite with
at least two entries that record it also gets a figure of mean rank against cost (``cost_<suite>.png``).
Output is deterministic: sorted inputs, fixed seeds, fixed float formats, no timestamps; building
twice gives identical bytes.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import stat
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from scipy.stats import rankdata
from tabulate import tabulate
from tqdm.auto import tqdm

from .. import PROTOCOL
from ..atomic import atomic_write_bytes
from ..cost import describe_machine
from . import SubmissionError
from .submission import MAX_BYTES, submission_filename, write_text
from .trust import Flag, entry_flags, legend
from .validate import Report, TaskLoader, ValidatedSubmission, check_submission

CI_RESAMPLES = 1000
TEST_RESAMPLES = 2000
ALPHA = 0.05
SEED = 0
CI_LEVEL = 0.95
MAX_FIGURE_BYTES = 16 * 2**20
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OUTPUT_NAMES = ("README.md", "leaderboard.csv", "index.html")
COST_FIGURE = re.compile(r"^cost_([a-z0-9][a-z0-9_-]{0,39})\.png$")  # cost_<suite>.png, written by the build
MIN_COST_ENTRIES = 2  # a cost figure of one point compares nothing


@dataclass(frozen=True)
class Column:
    """One task of a suite as a leaderboard column."""

    task: str
    metric: str
    type: str
    higher_is_better: bool


@dataclass(frozen=True)
class Cost:
    """An entry's encoding cost over its tasks, from the results that record it (None: none does)."""

    residues_per_s: float | None = None  # median over tasks: one long-sequence task does not decide it
    peak_rss_bytes: int | None = None  # largest over tasks
    cuda_peak_bytes: int | None = None
    machines: tuple[str, ...] = ()  # where the recorded costs were measured, described for people

    @property
    def known(self) -> bool:
        return self.residues_per_s is not None or self.peak_rss_bytes is not None


def entry_cost(results: dict[str, dict[str, Any]]) -> Cost:
    costs = [results[task].get("cost") for task in sorted(results)]
    costs = [c for c in costs if isinstance(c, dict)]
    rates = [float(c["residues_per_s"]) for c in costs if c.get("residues_per_s") is not None]
    rss = [int(c["peak_rss_bytes"]) for c in costs if c.get("peak_rss_bytes") is not None]
    gpu = [int(c["cuda_peak_bytes"]) for c in costs if c.get("cuda_peak_bytes") is not None]
    machines = sorted({describe_machine(c["machine"]) for c in costs if c.get("machine")})
    return Cost(residues_per_s=float(np.median(rates)) if rates else None, peak_rss_bytes=max(rss) if rss else None,
                cuda_peak_bytes=max(gpu) if gpu else None, machines=tuple(machines))


@dataclass
class Entry:
    """One row: a submission's results with one probe."""

    slug: str
    probe: str
    encoder: dict[str, Any]
    suite: str
    source: str
    lsdbench_version: str
    results: dict[str, dict[str, Any]]
    scores: dict[str, float]
    flags: list[Flag] = field(default_factory=list)  # set by flag_entries, over all suites

    @property
    def key(self) -> str:
        return f"{self.slug}/{self.probe}"

    @property
    def name(self) -> str:
        return self.encoder["name"]

    @cached_property
    def cost(self) -> Cost:
        return entry_cost(self.results)

    def marks(self, task: str) -> str:
        """The flag marks of a task's cell, each after a space ('' when none)."""
        return "".join(f" {f.mark}" for f in self.flags if f.task == task)


@dataclass
class Cell:
    score: float
    ci_low: float
    ci_high: float
    rank: float
    best: bool
    tied: bool  # not distinguishable from the best (the best itself is not marked tied)
    delta: float | None = None  # entry minus best
    p_adjusted: float | None = None


@dataclass
class Row:
    entry: Entry
    cells: dict[str, Cell]
    mean_rank: float
    position: int = 0


@dataclass
class SuiteTable:
    suite: str
    columns: list[Column]
    rows: list[Row]
    cost_figure: bytes | None = None  # PNG of mean rank against cost, when enough entries record cost

    @property
    def machines(self) -> list[str]:
        """Every machine the table's costs were measured on, in row order; M1, M2, ... in the tables."""
        return list(dict.fromkeys(m for row in self.rows for m in row.entry.cost.machines))

    def machine_marks(self, cost: Cost) -> list[str]:
        index = self.machines
        return [f"M{index.index(m) + 1}" for m in cost.machines]


@dataclass
class BuildReport:
    tables: list[SuiteTable]
    invalid: dict[str, list[str]] = field(default_factory=dict)  # file -> problems
    written: list[Path] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)


def paired_resamples(n_test: int, n_comparisons: int, alpha: float = ALPHA) -> int:
    """Bootstrap resamples of the tests against the best: at least ``n_test``, and enough that a
    Holm-adjusted p-value can fall well below alpha (a bootstrap p is never below 2 / (B + 1), and Holm
    multiplies the smallest by the number of comparisons)."""
    return max(int(n_test), math.ceil(20 * n_comparisons / alpha))


def rank_suite(suite: str, entries: list[Entry], columns: list[Column], *, n_ci: int = CI_RESAMPLES,
               n_test: int = TEST_RESAMPLES, alpha: float = ALPHA, seed: int = SEED,
               progress: bool = False) -> SuiteTable:
    """Scores, CIs, ranks and 'not distinguishable from the best' marks of one suite's entries."""
    from ..stats import bootstrap_ci, judge, paired_test

    entries = sorted(entries, key=lambda e: e.key)
    cells: dict[str, dict[str, Cell]] = {e.key: {} for e in entries}
    ranks = np.zeros((len(entries), len(columns)))
    for j, col in enumerate(tqdm(columns, desc=f"ranking {suite}", unit="task", disable=not progress)):
        scores = np.array([e.scores[col.task] for e in entries])
        signed = np.round(scores if col.higher_is_better else -scores, 12)  # float noise must not split ties
        ranks[:, j] = rankdata(-signed, method="average")
        best = int(np.argmax(signed))  # first of equal bests in key order: deterministic
        others = [i for i in range(len(entries)) if i != best]
        comparisons = [paired_test(entries[i].results[col.task], entries[best].results[col.task],
                                   method="bootstrap", n_resamples=paired_resamples(n_test, len(others), alpha),
                                   seed=seed) for i in others]
        tested = {i: (c, p, v) for i, c, (p, v) in zip(others, comparisons, judge(comparisons, alpha=alpha), strict=True)}
        for i, e in enumerate(entries):
            low, high = bootstrap_ci(e.results[col.task], level=CI_LEVEL, n_resamples=n_ci, seed=seed)
            cmp, p_adj, v = tested.get(i, (None, None, None))
            cells[e.key][col.task] = Cell(
                score=float(scores[i]), ci_low=low, ci_high=high, rank=float(ranks[i, j]), best=i == best,
                tied=v == "not distinguishable",
                delta=None if cmp is None else float(cmp.delta), p_adjusted=p_adj)
    mean_ranks = ranks.mean(axis=1) if columns else np.zeros(len(entries))
    rows = [Row(e, cells[e.key], float(mean_ranks[i])) for i, e in enumerate(entries)]
    rows.sort(key=lambda r: (round(r.mean_rank, 9), r.entry.name.lower(), r.entry.key))
    for r in rows:  # competition ranking: equal mean ranks share a position
        r.position = 1 + sum(1 for o in rows if round(o.mean_rank, 9) < round(r.mean_rank, 9))
    return SuiteTable(suite, columns, rows)


def flag_entries(entries: list[Entry]) -> None:
    """Set every entry's flags; entries of all suites together, so a copy across suites is found too."""
    for entry, flags in zip(entries, entry_flags(entries), strict=True):
        entry.flags = flags


def flagged(table: SuiteTable) -> list[tuple[Entry, Flag]]:
    """(entry, flag) of every flag in the table, in row order."""
    return [(row.entry, f) for row in table.rows for f in row.entry.flags]


def suite_columns(suite: str, loader: TaskLoader) -> list[Column]:
    from ..metrics import higher_is_better

    cards = loader.suite_cards(suite)
    return [Column(name, cards[name].primary_metric, cards[name].type, bool(higher_is_better(cards[name].primary_metric)))
            for name in sorted(cards)]


def entries_of(sub: ValidatedSubmission) -> list[Entry]:
    return [Entry(slug=sub.slug, probe=probe, encoder=dict(sub.encoder), suite=sub.suite,
                  source=os.path.basename(sub.source), lsdbench_version=str(sub.data["lsdbench_version"]),
                  results=sub.entries[probe], scores=sub.scores[probe])
            for probe in sorted(sub.entries)]


def gather(submissions_dir: str | os.PathLike, loader: TaskLoader, *, max_bytes: int = MAX_BYTES,
           progress: bool = False) -> tuple[list[ValidatedSubmission], dict[str, list[str]]]:
    """Validate every ``*.json`` in the folder (sorted); invalid ones are reported, never used."""
    folder = Path(submissions_dir)
    valid: list[ValidatedSubmission] = []
    invalid: dict[str, list[str]] = {}
    if not folder.is_dir():
        raise SubmissionError(f"{folder}: submissions folder does not exist")
    paths = sorted(folder.glob("*.json"), key=lambda p: p.name)
    for path in tqdm(paths, desc="validating submissions", unit="file", disable=not progress):
        report: Report = check_submission(path, loader=loader, max_bytes=max_bytes, follow_symlinks=False)
        if report.ok:
            sub = report.submission
            expected = submission_filename(sub.slug, sub.suite)
            if path.name != expected:  # the name is the uniqueness key: one file per encoder and suite
                report.problems.append(f"file name must be {expected!r} (from encoder name {sub.encoder['name']!r} "
                                       f"and suite {sub.suite!r})")
        if report.ok:
            valid.append(report.submission)
        else:
            invalid[str(path)] = report.problems
    return valid, invalid


def find_figures(figures_dir: str | os.PathLike | None) -> list[tuple[str, bytes]]:
    """``(relative posix path, bytes)`` of every PNG under ``figures_dir``, sorted by path."""
    if figures_dir is None or not Path(figures_dir).is_dir():
        return []
    root = Path(figures_dir)
    out = []
    for path in sorted(root.rglob("*.png"), key=lambda p: p.relative_to(root).as_posix()):
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FIGURE_BYTES:
            continue  # links and huge files are not embedded
        data = path.read_bytes()
        if data.startswith(PNG_SIGNATURE):
            out.append((path.relative_to(root).as_posix(), data))
    return out


# ---- formatting (shared by markdown, CSV and HTML) ----

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


def method_text(n_ci: int, n_test: int, alpha: float) -> str:
    return (f"Each cell: the task's primary test metric, recomputed from the submitted predictions and the "
            f"registry's labels, with its {CI_LEVEL:.0%} CI (percentile bootstrap over test items, {n_ci} "
            f"resamples, seed {SEED}). Bold: best entry on the task. †: not distinguishable from the best "
            f"(paired bootstrap test against the best, at least {n_test} resamples, Holm-corrected over the task's "
            f"entries, alpha {alpha}). Mean rank: over the suite's tasks, ties averaged. "
            f"Protocol: {PROTOCOL}.")


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


def render_markdown(tables: list[SuiteTable], figures: list[tuple[str, bytes]], figure_prefix: str, *,
                    n_ci: int, n_test: int, alpha: float) -> str:
    lines = ["# lsdbench leaderboard", "",
             "Generated by `lsdbench leaderboard build` from the files in `submissions/`; do not edit by "
             "hand. How to submit: [CONTRIBUTING.md](../CONTRIBUTING.md). The same tables, sortable: "
             "`index.html`; as data: `leaderboard.csv`.", "", method_text(n_ci, n_test, alpha), ""]
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
                cells.append(text + (" †" if c.tied else "") + e.marks(col.task))
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
        lines += [f"### Encoders in `{table.suite}`", ""]
        meta_rows, seen = [], set()
        for row in sorted(table.rows, key=lambda r: r.entry.key):
            e = row.entry
            if e.slug in seen:
                continue
            seen.add(e.slug)
            meta_rows.append([_md(e.name), f"{int(e.encoder['parameters']):,}", e.encoder["dim"],
                              _md(e.encoder["training_data"]), _md(e.encoder["licence"]),
                              f"<{e.encoder['link']}>", _md(e.encoder.get("description", "")),
                              f"`{e.source}`", e.lsdbench_version])
        lines += [tabulate(meta_rows, headers=["encoder", "parameters", "dim", "training data", "licence", "link",
                                               "description", "submission", "lsdbench"],
                           tablefmt="github", disable_numparse=True), ""]
    if figures:
        lines += ["## Figures", ""]
        for rel, _ in figures:
            lines += [f"![{_md(rel)}]({quote(figure_prefix + rel)})", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _markdown_flags(table: SuiteTable) -> list[str]:
    """The legend and one bullet per flag, or nothing when no entry of the table is flagged."""
    found = flagged(table)
    if not found:
        return []
    return [_md(legend()), ""] + [f"- {_md(f'{e.name} ({e.probe}): {f.text()}')}" for e, f in found] + [""]


def render_csv(tables: list[SuiteTable]) -> str:
    """One row per entry; per task: score, CI, rank, best / tied marks, adjusted p against the best; then
    the entry's flags ('; '-separated, empty when none)."""
    tasks = [(t.suite, c.task) for t in tables for c in t.columns]
    header = ["suite", "position", "entry", "encoder", "probe", "parameters", "dim", "training_data", "licence",
              "link", "mean_rank"]
    for _, task in tasks:
        header += [task, f"{task}_ci_low", f"{task}_ci_high", f"{task}_rank", f"{task}_best", f"{task}_tied_best",
                   f"{task}_p_vs_best"]
    header.append("flags")
    # appended after flags, so readers that index the older columns by position still find them
    header += ["residues_per_s", "peak_rss_bytes", "cuda_peak_bytes", "machine"]
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
            writer.writerow(out)
    return buf.getvalue()


def build_leaderboard(submissions_dir: str | os.PathLike = "leaderboard/submissions",
                      out_dir: str | os.PathLike = "leaderboard", *, figures_dir: str | os.PathLike | None = None,
                      loader: TaskLoader | None = None, cache_dir: str | os.PathLike | None = None,
                      mirror: str | None = None, max_bytes: int = MAX_BYTES, n_ci: int = CI_RESAMPLES,
                      n_test: int = TEST_RESAMPLES, alpha: float = ALPHA, progress: bool = False) -> BuildReport:
    """Validate every submission, rank the valid ones per suite and write the three outputs.

    Invalid files are listed in ``BuildReport.invalid`` and left out, so they never change the
    leaderboard. Only the fixed names README.md, leaderboard.csv and index.html in ``out_dir`` are
    written, plus ``cost_<suite>.png`` for each suite with at least two entries that record their cost
    (a stale one of a suite that no longer has them is removed); PNG figures under ``figures_dir``
    (default ``out_dir/figures``) are linked from the README and embedded in the page. Tasks are loaded
    by ``loader``, else from ``cache_dir``/``mirror``.
    """
    from .html import render_html

    loader = loader or TaskLoader(cache_dir=cache_dir, mirror=mirror)
    out = Path(out_dir)
    figures_path = Path(figures_dir) if figures_dir is not None else out / "figures"
    valid, invalid = gather(submissions_dir, loader, max_bytes=max_bytes, progress=progress)
    entries = [e for sub in valid for e in entries_of(sub)]
    flag_entries(entries)
    by_suite: dict[str, list[Entry]] = {}
    for e in entries:
        by_suite.setdefault(e.suite, []).append(e)
    tables = [rank_suite(suite, by_suite[suite], suite_columns(suite, loader), n_ci=n_ci, n_test=n_test, alpha=alpha,
                         progress=progress) for suite in sorted(by_suite)]
    for table in tables:
        table.cost_figure = cost_figure(table)
    figures = find_figures(figures_path)
    prefix = os.path.relpath(figures_path, out).replace(os.sep, "/").rstrip("/") + "/"
    report = BuildReport(tables, invalid, figures=[rel for rel, _ in figures])
    texts = {
        "README.md": render_markdown(tables, figures, prefix, n_ci=n_ci, n_test=n_test, alpha=alpha),
        "leaderboard.csv": render_csv(tables),
        "index.html": render_html(tables, figures, method=method_text(n_ci, n_test, alpha)),
    }
    for name in OUTPUT_NAMES:
        report.written.append(write_text(out / name, texts[name]))
    drawn = {cost_figure_name(t.suite): t.cost_figure for t in tables if t.cost_figure is not None}
    for name, data in drawn.items():
        report.written.append(atomic_write_bytes(out / name, data))
        os.chmod(out / name, 0o644)  # readable by all, like the text outputs
    for path in sorted(out.glob("cost_*.png")):
        if COST_FIGURE.match(path.name) and path.name not in drawn and not path.is_symlink() and path.is_file():
            path.unlink()  # a figure of an earlier build would show costs that are no longer there
    return report
