"""The findings tables of docs/reference-models.md, generated from committed files only.

    python scripts/findings_tables.py                # print them
    python scripts/findings_tables.py --write-docs   # replace them in docs/reference-models.md, between their markers

Prints three Markdown tables: the health of the committed reference checkpoints (their meta.json), how
they were trained (meta.json), and the paper's claims per task with the controls beside them
(leaderboard/submissions and leaderboard/hypotheses.json). The docs page holds this output verbatim (a
test checks it), so every number in its findings sections is in a committed file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "reference-models.md"  # the page whose tables this script writes
ENCODERS = ("mlm", "lsd_tn", "lsd_nm")
DENOISERS = ("lsd_tn_diffusion", "lsd_nm_diffusion", "mlm_diffusion")
# the paper-faithful readings (configs/faithful.toml), listed where their checkpoints are committed
FAITHFUL = ("lsd_tn_homogeneous", "lsd_tn_vae", "lsd_nm_weighted", "lsd_tn_homogeneous_diffusion",
            "lsd_tn_vae_diffusion", "lsd_nm_weighted_diffusion")


def health_checkpoints(ck: Path) -> list[str]:
    """The checkpoints of the health table, in its row order."""
    return [*ENCODERS, *DENOISERS, *(n for n in FAITHFUL if (ck / n / "meta.json").is_file())]
COLUMNS = (  # (target id, metric key, header, format): health by function (function_health.py)
    ("T1", "beats_aac_tasks", "T1 beats AAC (tasks, >= 3)", "{:d}"),
    ("T2", "beats_random_transformer_tasks", "T2 beats random transformer (tasks, >= 3)", "{:d}"),
    ("T3", "next_type_gain", "T3 next-residue gain over bigram (>= 0.05)", "{:+.3f}"),
    ("T4", "within_type_variance_share", "T4 within-type share (>= 0.10)", "{:.3f}"),
    ("T5", "perplexity_ratio", "T5 perplexity / unigram (<= 0.80)", "{:.3f}"),
    ("T6", "context_margin_min", "T6 context margin, nats (CI > 0)", "{:+.4f}"),
    ("", "composition_r2", "composition R² (descriptive)", "{:.3f}"),
)


def _fmt(metrics: dict, key: str, fmt: str) -> str:
    value = metrics.get(key)
    if not isinstance(value, (int, float)):
        return "-"
    ci = metrics.get(f"{key}_ci")
    text = fmt.format(value)
    return text + (f" [{fmt.format(ci[0])}, {fmt.format(ci[1])}]" if isinstance(ci, list) else "")


def _verdict(health: dict) -> str:
    verdict = "pass" if health.get("passed") else "misses " + ", ".join(m.split()[0] for m in health.get("missed", ["?"]))
    return verdict if health.get("testable", True) else f"**not testable** ({verdict})"


def encoder_table(ck: Path) -> list[str]:
    """Every committed checkpoint's health by function, one row each, with 95 % CIs."""
    lines = ["| checkpoint | " + " | ".join(h for _, _, h, _ in COLUMNS) + " | verdict |",
             "|---|" + "---|" * (len(COLUMNS) + 1)]
    for name in health_checkpoints(ck):
        health = json.loads((ck / name / "meta.json").read_text()).get("health", {})
        m = health.get("metrics", {})
        applies = {r.get("id") for r in health.get("targets", [])}
        cells = [_fmt(m, k, f) if (tid in applies or not tid) else "-" for tid, k, _, f in COLUMNS]
        lines.append(f"| `{name}` | " + " | ".join(cells) + f" | {_verdict(health)} |")
    return lines


def training_table(ck: Path) -> list[str]:
    lines = ["| checkpoint | parameters | steps | tokens | epochs | wall time (2 cores) | held-out |",
             "|---|---|---|---|---|---|---|"]
    for name in ENCODERS + DENOISERS:
        meta = json.loads((ck / name / "meta.json").read_text())
        tr, m = meta["training"], meta["metrics"]
        if "heldout_perplexity" in m:
            held = (f"masked accuracy {m['heldout_masked_accuracy']:.3f}, perplexity {m['heldout_perplexity']:.2f} "
                    f"(unigram {m['unigram_perplexity']:.2f})")
        elif "heldout_reconstruction_accuracy" in m:
            held = f"reconstruction accuracy {m['heldout_reconstruction_accuracy']:.3f}"
        else:
            by_t = {r["t"]: r["loss"] for r in m["heldout_loss_by_t"]}
            held = "v-loss " + " / ".join(f"{by_t[t]:.3f}" for t in (0.01, 0.1, 0.5)) + " at t = 0.01 / 0.1 / 0.5"
        lines.append(f"| `{name}` | {tr['parameters'] / 1e6:.2f} M | {tr['steps']} | {tr['tokens_seen'] / 1e6:.1f} M | "
                     f"{tr.get('epochs', 0):.1f} | {tr['wall_time_s'] / 60:.1f} min | {held} |")
    return lines


SHORT = {"not distinguishable": "n.d.", "holds": "**holds**", "reversed": "**reversed**", "not testable": "not testable"}
SCORE_COLUMNS = ("MLM (reference)", "LSD-TN diffusion", "LSD-NM diffusion", "MLM diffusion", "LSD-TN latent",
                 "LSD-NM latent", "Random transformer", "AAC", "DPC")
HEADERS = ("MLM", "TN diff.", "NM diff.", "MLM diff.", "TN latent", "NM latent", "random transf.", "AAC", "DPC")


def _scores(board: Path) -> dict[str, dict[str, float]]:
    out = {}
    for path in sorted((board / "submissions").glob("*.json")):
        sub = json.loads(path.read_text())
        name = sub["encoder"]["name"]
        out[name] = {r["task"]["name"]: r["scores"]["test"][r["task"]["primary_metric"]] for r in sub["results"]}
    return out


def claims_table(board: Path) -> list[str]:
    rows = json.loads((board / "hypotheses.json").read_text())
    scores = _scores(board)
    tasks = sorted({r["task"] for r in rows})
    metric = {r["task"]: r["metric"] for r in rows}

    def verdicts(task: str, better: tuple[str, ...], than: tuple[str, ...]) -> str:
        found = [r for r in rows if r["task"] == task and r["better"] in better and r["than"] in than]
        order = {(b, t): i for i, (b, t) in enumerate((b, t) for b in better for t in than)}
        found.sort(key=lambda r: order[(r["better"], r["than"])])
        return " / ".join(SHORT[r["verdict"]] for r in found) or "-"

    lines = ["| task (metric) | " + " | ".join(HEADERS) + " | TN / NM diff. vs MLM diff. | MLM vs TN / NM / MLM diff. "
             "| MLM vs random transf. |", "|---|" + "---|" * (len(HEADERS) + 3)]
    for task in tasks:
        cells = [f"{scores[n][task]:.3f}" if task in scores.get(n, {}) else "-" for n in SCORE_COLUMNS]
        cells += [verdicts(task, ("LSD-TN diffusion", "LSD-NM diffusion"), ("MLM diffusion",)),
                  verdicts(task, ("MLM (reference)",), ("LSD-TN diffusion", "LSD-NM diffusion", "MLM diffusion")),
                  verdicts(task, ("MLM (reference)",), ("Random transformer",))]
        lines.append(f"| {task} ({metric[task]}) | " + " | ".join(cells) + " |")
    return lines


MARKERS = ("health", "training", "claims")


def tables(ck: Path, board: Path) -> dict[str, list[str]]:
    return dict(zip(MARKERS, (encoder_table(ck), training_table(ck), claims_table(board)), strict=True))


def fill(page: str, generated: dict[str, list[str]]) -> str:
    """The page with the text between ``<!-- findings:NAME -->`` and ``<!-- /findings:NAME -->`` replaced."""
    for name, lines in generated.items():
        start, end = f"<!-- findings:{name} -->", f"<!-- /findings:{name} -->"
        a, b = page.index(start) + len(start), page.index(end)
        page = page[:a] + "\n" + "\n".join(lines) + "\n" + page[b:]
    return page


def main(argv: list[str]) -> int:
    write = "--write-docs" in argv
    argv = [a for a in argv if a != "--write-docs"]
    unknown = [a for a in argv if a.startswith("-")]
    if unknown:  # --write-readme was the flag while the tables were in README.md
        print(f"findings_tables.py: error: unknown option {unknown[0]} (options: --write-docs, which writes "
              f"{PAGE.relative_to(ROOT)})", file=sys.stderr)
        return 2
    ck = Path(argv[0]) if argv else ROOT / "reference_models" / "checkpoints"
    board = Path(argv[1]) if len(argv) > 1 else ROOT / "leaderboard"
    generated = tables(ck, board)
    if write:
        tmp = PAGE.with_suffix(".md.tmp")
        tmp.write_text(fill(PAGE.read_text(), generated))
        tmp.replace(PAGE)
    else:
        print("\n\n".join("\n".join(t) for t in generated.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
