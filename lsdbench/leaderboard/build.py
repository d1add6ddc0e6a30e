"""Build the leaderboard (README.md, leaderboard.csv, index.html) from validated submissions.

Every number shown is recomputed here from the submitted predictions and the registry's labels: the
primary metric, a percentile-bootstrap 95 % CI, paired tests of each entry against the task's best
entry (Holm-corrected over the entries of the task), significance-aware ranks (statistical tie groups,
ties.py) and the mean of those ranks over a suite's tasks, and the trust flags of trust.py
(near-perfect scores, predictions identical to another encoder's), shown as marks with a legend.
Encoding cost (throughput, peak memory, machine) is read from the results' optional ``cost``, as
reported by the submitter's run: it is shown, never checked, and never changes a rank; a suite with
at least two entries that record it also gets a figure of mean rank against cost (``cost_<suite>.png``).
Output is deterministic: sorted inputs, fixed seeds, fixed float formats, no timestamps; building
twice gives identical bytes.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from lsdbench.atomic import atomic_write_bytes
from lsdbench.leaderboard import SubmissionError
from lsdbench.leaderboard.html import render_html
from lsdbench.leaderboard.render import (
    COST_FIGURE,
    cost_figure,
    cost_figure_name,
    method_text,
    render_csv,
    render_markdown,
)
from lsdbench.leaderboard.submission import MAX_BYTES, submission_filename, write_text
from lsdbench.leaderboard.table import (
    ALPHA,
    CI_LEVEL,
    CI_RESAMPLES,
    SEED,
    TEST_RESAMPLES,
    BuildReport,
    Cell,
    Column,
    Entry,
    Row,
    SuiteTable,
)
from lsdbench.leaderboard.ties import tie_groups
from lsdbench.leaderboard.trust import entry_flags
from lsdbench.leaderboard.validate import Report, TaskLoader, ValidatedSubmission, check_submission
from lsdbench.metrics.registry import higher_is_better
from lsdbench.stats import bootstrap_ci, judge, paired_test

MAX_FIGURE_BYTES = 16 * 2**20
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OUTPUT_NAMES = ("README.md", "leaderboard.csv", "index.html")


def paired_resamples(n_test: int, n_comparisons: int, alpha: float = ALPHA) -> int:
    """Bootstrap resamples of the tests against the best: at least ``n_test``, and enough that a
    Holm-adjusted p-value can fall well below alpha (a bootstrap p is never below 2 / (B + 1), and Holm
    multiplies the smallest by the number of comparisons)."""
    return max(int(n_test), math.ceil(20 * n_comparisons / alpha))


def _tester(results: list[dict], *, n_test: int, alpha: float, seed: int):
    """The paired tests of a tie-group round (leader against the others, Holm over them), remembered by
    leader: the first round's comparisons against the best are also shown in the cells."""
    done: dict[int, dict[int, tuple]] = {}

    def test(leader: int, others: list[int]) -> list[str]:
        n = paired_resamples(n_test, len(others), alpha)
        comparisons = [paired_test(results[i], results[leader], method="bootstrap", n_resamples=n, seed=seed)
                       for i in others]
        done[leader] = {i: (c, p, v) for i, c, (p, v) in zip(others, comparisons, judge(comparisons, alpha=alpha),
                                                             strict=True)}
        return [done[leader][i][2] for i in others]

    return test, done


def rank_suite(suite: str, entries: list[Entry], columns: list[Column], *, n_ci: int = CI_RESAMPLES,
               n_test: int = TEST_RESAMPLES, alpha: float = ALPHA, seed: int = SEED,
               progress: bool = False) -> SuiteTable:
    """Scores, CIs, tie-group ranks and 'not distinguishable from the best' marks of one suite's entries."""
    entries = sorted(entries, key=lambda e: e.key)
    cells: dict[str, dict[str, Cell]] = {e.key: {} for e in entries}
    ranks = np.zeros((len(entries), len(columns)))
    for j, col in enumerate(tqdm(columns, desc=f"ranking {suite}", unit="task", disable=not progress)):
        scores = np.array([e.scores[col.task] for e in entries])
        signed = np.round(scores if col.higher_is_better else -scores, 12)  # float noise must not split ties
        best = int(np.argmax(signed))  # first of equal bests in key order: deterministic, the first leader
        test, done = _tester([e.results[col.task] for e in entries], n_test=n_test, alpha=alpha, seed=seed)
        ties = tie_groups(signed, test)
        tested = done.get(best, {})
        for i, e in enumerate(entries):
            low, high = bootstrap_ci(e.results[col.task], level=CI_LEVEL, n_resamples=n_ci, seed=seed)
            cmp, p_adj, v = tested.get(i, (None, None, None))
            cells[e.key][col.task] = Cell(
                score=float(scores[i]), ci_low=low, ci_high=high, tie=ties[i], best=i == best,
                tied=v == "not distinguishable",
                delta=None if cmp is None else float(cmp.delta), p_adjusted=p_adj)
            ranks[i, j] = ties[i].mid
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


def suite_columns(suite: str, loader: TaskLoader) -> list[Column]:
    cards = loader.suite_cards(suite)
    return [Column(name, cards[name].primary_metric, cards[name].type, bool(higher_is_better(cards[name].primary_metric)))
            for name in sorted(cards)]


def entries_of(sub: ValidatedSubmission) -> list[Entry]:
    return [Entry(slug=sub.slug, probe=probe, encoder=dict(sub.encoder), suite=sub.suite,
                  source=os.path.basename(sub.source), lsdbench_version=str(sub.data["lsdbench_version"]),
                  results=sub.entries[probe], scores=sub.scores[probe])
            for probe in sorted(sub.entries)]


def gather(submissions_dir: str | os.PathLike, loader: TaskLoader, *, max_bytes: int = MAX_BYTES,
           progress: bool = False, known: dict[str, ValidatedSubmission] | None = None,
           ) -> tuple[list[ValidatedSubmission], dict[str, list[str]]]:
    """Validate every ``*.json`` in the folder (sorted); invalid ones are reported, never used.

    ``known``: submissions this process has just validated and written into the folder, by file name
    (the main job's); they are used as they are instead of being read and validated again."""
    known = known or {}
    folder = Path(submissions_dir)
    valid: list[ValidatedSubmission] = []
    invalid: dict[str, list[str]] = {}
    if not folder.is_dir():
        raise SubmissionError(f"{folder}: submissions folder does not exist")
    paths = sorted(folder.glob("*.json"), key=lambda p: p.name)
    for path in tqdm(paths, desc="validating submissions", unit="file", disable=not progress):
        if path.name in known:
            valid.append(known[path.name])
            continue
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

def build_leaderboard(submissions_dir: str | os.PathLike = "leaderboard/submissions",
                      out_dir: str | os.PathLike = "leaderboard", *, figures_dir: str | os.PathLike | None = None,
                      loader: TaskLoader | None = None, cache_dir: str | os.PathLike | None = None,
                      mirror: str | None = None, max_bytes: int = MAX_BYTES, n_ci: int = CI_RESAMPLES,
                      n_test: int = TEST_RESAMPLES, alpha: float = ALPHA, progress: bool = False,
                      known: dict[str, ValidatedSubmission] | None = None, pending: Sequence[str] = ()) -> BuildReport:
    """Validate every submission, rank the valid ones per suite and write the three outputs.

    Invalid files are listed in ``BuildReport.invalid`` and left out, so they never change the
    leaderboard. Only the fixed names README.md, leaderboard.csv and index.html in ``out_dir`` are
    written, plus ``cost_<suite>.png`` for each suite with at least two entries that record their cost
    (a stale one of a suite that no longer has them is removed); PNG figures under ``figures_dir``
    (default ``out_dir/figures``) are linked from the README and embedded in the page. Tasks are loaded
    by ``loader``, else from ``cache_dir``/``mirror``. ``known``: see :func:`gather`. ``pending``: the
    entries a run has yet to (re)write, named in a note on a partial leaderboard (none: no note).
    """
    loader = loader or TaskLoader(cache_dir=cache_dir, mirror=mirror)
    out = Path(out_dir)
    figures_path = Path(figures_dir) if figures_dir is not None else out / "figures"
    valid, invalid = gather(submissions_dir, loader, max_bytes=max_bytes, progress=progress, known=known)
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
        "README.md": render_markdown(tables, figures, prefix, n_ci=n_ci, n_test=n_test, alpha=alpha,
                                     pending=pending),
        "leaderboard.csv": render_csv(tables),
        "index.html": render_html(tables, figures, method=method_text(n_ci, n_test, alpha), pending=pending),
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
