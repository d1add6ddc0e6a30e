"""Health judged by what a representation does (issue 26), each number with a 95 % CI, on sequences no
model trained on: the test splits of the open tasks, which `lsd-train data` removes from the corpus.

- T1 the representation beats AAC on >= 3 of the 5 open tasks (paired bootstrap, Holm within the entry);
- T2 it beats the untrained ``random_transformer`` on >= 3 of 5 (same test); an entry that beats it on
  none learned nothing detectable, and only such an entry makes a claim "not testable";
- T3 a next-residue linear probe on the per-residue representation beats the bigram guess by >= 0.05;
- T4 within-type variance share >= 0.10 (contextual latents; the homogeneous TN is context-free by design);
- T5 MLM perplexity <= 0.80 x unigram perplexity on task sequences;
- T6 a denoiser uses context: its x0-hat at t in {0.3, 0.5, 0.7} decodes real sequences better (lower
  residue cross-entropy) than the same sequences with residue order shuffled, by a margin whose CI
  excludes 0 at every t.

Composition R² is kept as a descriptive number only: any representation that encodes residue identity
scores ~1 on it, however much context it also carries. Intervals resample whole sequences (a sequence's
residues are not independent); T1/T2 come from the committed submissions' paired tests.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from reference_models.corpus import alphabet as A

N_RESAMPLES = 1000
CI_LEVEL = 0.95
SEED = 0
T6_LEVELS = (0.3, 0.5, 0.7)
OPEN_TASKS = 5

# (id, metric, comparison, threshold, kinds it applies to); "ci_low >" compares the CI's lower bound
TARGETS = (
    ("T1", "beats_aac_tasks", ">=", 3, ("mlm", "lsd_tn", "lsd_nm", "diffusion")),
    ("T2", "beats_random_transformer_tasks", ">=", 3, ("mlm", "lsd_tn", "lsd_nm", "diffusion")),
    ("T3", "next_type_gain", ">=", 0.05, ("mlm", "lsd_tn", "lsd_nm")),
    ("T4", "within_type_variance_share", ">=", 0.10, ("lsd_tn", "lsd_nm")),
    ("T5", "perplexity_ratio", "<=", 0.80, ("mlm",)),
    ("T6", "context_margin_min", "ci_low >", 0.0, ("diffusion",)),
)


# ---- intervals over sequences --------------------------------------------------------------------------

def _resample_weights(n: int, n_resamples: int = N_RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(n_resamples, n) multinomial counts: how often each sequence is drawn in each bootstrap resample."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_resamples, n))
    return np.stack([np.bincount(row, minlength=n) for row in idx]).astype(np.float64)


def _interval(values: np.ndarray) -> list[float] | None:
    values = values[np.isfinite(values)]
    if not len(values):  # nothing measurable (e.g. no masked position in a tiny run): no interval
        return None
    alpha = (1 - CI_LEVEL) / 2
    return [float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))]


def ratio_ci(numerator: np.ndarray, denominator: np.ndarray) -> tuple[float, list[float]]:
    """sum(num) / sum(den) over sequences, with a sequence-bootstrap CI."""
    numerator, denominator = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    w = _resample_weights(len(numerator))
    return float(numerator.sum() / denominator.sum()), _interval((w @ numerator) / (w @ denominator))


def within_share_ci(count: np.ndarray, sums: np.ndarray, sumsq: np.ndarray) -> tuple[float, list[float]]:
    """Within-type variance share from per-sequence, per-type sufficient statistics, with its CI.

    count (S, T) rows per sequence and type, sums (S, T, d) their sums, sumsq (S, T) their summed squares."""
    def share(c, s, q):  # c (..., T), s (..., T, d), q (..., T)
        within = (q - (s ** 2).sum(-1) / np.maximum(c, 1)).sum(-1)
        total = q.sum(-1) - (s.sum(-2) ** 2).sum(-1) / np.maximum(c.sum(-1), 1)
        return within / total

    w = _resample_weights(len(count))
    point = share(count.sum(0), sums.sum(0), sumsq.sum(0))
    boot = share(w @ count, np.einsum("rs,std->rtd", w, sums), w @ sumsq)
    return float(point), _interval(boot)


# ---- the sequences ---------------------------------------------------------------------------------------

def task_sequences(max_sequences: int = 400, suite: str = "open", split: str = "test") -> list[str]:
    """Up to ``max_sequences`` distinct test sequences of the suite's tasks, in a fixed order (sha256)."""
    from lsdbench.tasks.registry import list_cards, load_task

    seen: set[str] = set()
    for card in list_cards():
        if suite not in card.suites:
            continue
        task = load_task(card.name)
        if split in task.splits:
            seen.update(A.normalize(s) for s in task.splits[split].all_sequences())
    ordered = sorted(seen, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    return ordered[:max_sequences]


def shuffled(sequence: str, seed: int = SEED) -> str:
    """The same residues in a random order (seeded by the sequence): composition kept, context destroyed."""
    g = np.random.default_rng(int.from_bytes(hashlib.sha256(f"{seed}:{sequence}".encode()).digest()[:8], "little"))
    return "".join(np.asarray(list(sequence))[g.permutation(len(sequence))])


# ---- T3, T4: the per-residue representation -------------------------------------------------------------

@torch.no_grad()
def _rows(latents_fn, batches):
    """Per residue: representation (N, d), type (N,), next type (-1 at the end) (N,), sequence index (N,)."""
    z_all, types, nexts, seq = [], [], [], []
    offset = 0
    for tokens in batches:
        z, mask = latents_fn(tokens)
        inner = A.residue_types(tokens[:, 1:-1])
        has_next = torch.roll(mask, -1, dims=1) & mask
        has_next[:, -1] = False
        nxt = torch.where(has_next, torch.roll(inner, -1, dims=1), torch.full_like(inner, -1))
        rows = torch.arange(offset, offset + len(tokens))[:, None].expand_as(inner)
        z_all.append(z[mask].double().numpy())
        types.append(inner[mask].numpy())
        nexts.append(nxt[mask].numpy())
        seq.append(rows[mask].numpy())
        offset += len(tokens)
    return np.concatenate(z_all), np.concatenate(types), np.concatenate(nexts), np.concatenate(seq)


def next_type_gain(fit, ev, max_fit: int = 30_000) -> dict:
    """T3: next-residue accuracy of a linear probe on [representation, own type] minus that of the same
    probe on the own type alone (the bigram guess); fit on training sequences, scored on task sequences."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    z_fit, t_fit, n_fit, _ = fit
    z_ev, t_ev, n_ev, s_ev = ev
    keep_fit, keep_ev = np.flatnonzero(n_fit >= 0), np.flatnonzero(n_ev >= 0)
    if len(keep_fit) > max_fit:
        keep_fit = np.sort(np.random.default_rng(SEED).choice(keep_fit, max_fit, replace=False))
    eye = np.eye(A.N_TYPES)

    def correct(x_fit, x_ev):
        scaler = StandardScaler().fit(x_fit)
        with warnings.catch_warnings():  # 300 iterations reach a stable accuracy; lbfgs warns about the loss
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = LogisticRegression(max_iter=300).fit(scaler.transform(x_fit), n_fit[keep_fit])
        return clf.predict(scaler.transform(x_ev)) == n_ev[keep_ev]

    probe = correct(np.hstack([z_fit[keep_fit], eye[t_fit[keep_fit]]]), np.hstack([z_ev[keep_ev], eye[t_ev[keep_ev]]]))
    bigram = correct(eye[t_fit[keep_fit]], eye[t_ev[keep_ev]])
    seq = s_ev[keep_ev]
    n_seq = int(seq.max()) + 1
    diff = np.bincount(seq, probe.astype(float) - bigram.astype(float), minlength=n_seq)
    count = np.bincount(seq, minlength=n_seq).astype(float)
    used = count > 0
    gain, ci = ratio_ci(diff[used], count[used])
    return {"next_type_gain": gain, "next_type_gain_ci": ci, "next_type_accuracy": float(probe.mean()),
            "next_type_accuracy_bigram": float(bigram.mean())}


def within_type_share(ev) -> dict:
    """T4 with its CI, from the task-sequence rows."""
    z, types, _, seq = ev
    n_seq, d = int(seq.max()) + 1, z.shape[1]
    count = np.zeros((n_seq, A.N_TYPES))
    sums = np.zeros((n_seq, A.N_TYPES, d))
    sumsq = np.zeros((n_seq, A.N_TYPES))
    np.add.at(count, (seq, types), 1)
    np.add.at(sums, (seq, types), z)
    np.add.at(sumsq, (seq, types), (z ** 2).sum(1))
    used = count.sum(1) > 0
    share, ci = within_share_ci(count[used], sums[used], sumsq[used])
    return {"within_type_variance_share": share, "within_type_variance_share_ci": ci}


# ---- T5: the MLM as a language model -------------------------------------------------------------------

@torch.no_grad()
def perplexity_ratio(model, batches, unigram_logp: torch.Tensor, seed: int = SEED) -> dict:
    """T5: masked-token perplexity over unigram perplexity on the same positions, with a sequence CI."""
    from reference_models.networks.mlm import mask_tokens

    g = torch.Generator().manual_seed(seed)
    ce, uni, n = [], [], []
    for tokens in batches:
        inputs, sel = mask_tokens(tokens, model.cfg, g)
        logits = model(inputs).float()
        token_ce = F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none")
        ce += (token_ce * sel).sum(1).tolist()
        # where(), not a product: special tokens have log-probability -inf, and -inf * 0 is NaN
        uni += torch.where(sel, -unigram_logp[tokens].float(), torch.zeros(())).sum(1).tolist()
        n += sel.sum(1).tolist()
    ce, uni, n = map(np.asarray, (ce, uni, n))
    used = n > 0
    w = _resample_weights(int(used.sum()))
    ce, uni, n = ce[used], uni[used], n[used]

    def ratio(c, u, k):
        return np.exp((c - u) / k)

    point = float(ratio(ce.sum(), uni.sum(), n.sum()))
    return {"perplexity_ratio": point, "perplexity_ratio_ci": _interval(ratio(w @ ce, w @ uni, w @ n)),
            "task_perplexity": float(math.exp(ce.sum() / n.sum())),
            "task_unigram_perplexity": float(math.exp(uni.sum() / n.sum()))}


# ---- T6: does a denoiser use context? ------------------------------------------------------------------

@torch.no_grad()
def _x0_decoding(model, source, sequences: list[str], t: float, batch_size: int = 16):
    """Per sequence: (residues whose x0-hat, from one noised latent at level t, decodes to the right type;
    summed cross-entropy of the decoded residues in nats)."""
    from reference_models.networks import schedule as S

    correct, loss = [], []
    for start in range(0, len(sequences), batch_size):
        chunk = sequences[start:start + batch_size]
        tokens = A.batch_tokens(chunk)
        z0, mask = source.latents(tokens)
        g = torch.Generator().manual_seed(SEED + start)
        eps = torch.randn(z0.shape, generator=g) * mask[..., None]
        tt = torch.full((len(chunk),), float(t))
        zt = S.alpha(tt)[:, None, None] * z0 + S.sigma(tt)[:, None, None] * eps
        pred = model(zt, tt, mask)
        x0 = S.x0_from_prediction(zt, pred, tt[:, None, None], model.cfg.parameterization) * mask[..., None]
        logits = source.logits(x0, mask)[..., A.FIRST_RESIDUE:].float()
        target = (tokens[:, 1:-1] - A.FIRST_RESIDUE).clamp(min=0)
        right = (logits.argmax(-1) == target) & mask
        ce = F.cross_entropy(logits.transpose(1, 2), target, reduction="none") * mask
        correct += right.sum(1).tolist()
        loss += ce.sum(1).tolist()
    return np.asarray(correct, dtype=np.float64), np.asarray(loss, dtype=np.float64)


def context_margins(model, source, sequences: list[str], levels=T6_LEVELS) -> dict:
    """T6: how much worse x0-hat decodes when the residue order is shuffled, at each t: the decoded
    residues' cross-entropy on shuffled minus real sequences (nats per residue), with sequence CIs.

    The loss, not the accuracy: at small t a good latent decodes ~100 % either way, and an accuracy
    margin of 0 would hide a denoiser that is sure only with context."""
    lengths = np.asarray([len(s) for s in sequences], dtype=np.float64)
    mixed = [shuffled(s) for s in sequences]
    out: dict = {}
    lows = []
    for t in levels:
        real_right, real_loss = _x0_decoding(model, source, sequences, t)
        shuf_right, shuf_loss = _x0_decoding(model, source, mixed, t)
        margin, ci = ratio_ci(shuf_loss - real_loss, lengths)
        out[f"context_margin_t{t:g}"] = margin
        out[f"context_margin_t{t:g}_ci"] = ci
        out[f"x0_accuracy_t{t:g}"] = float(real_right.sum() / lengths.sum())
        out[f"x0_accuracy_shuffled_t{t:g}"] = float(shuf_right.sum() / lengths.sum())
        lows.append((ci[0], margin, ci))
    worst = min(lows)
    out["context_margin_min"], out["context_margin_min_ci"] = worst[1], worst[2]
    return out


# ---- T1, T2: against the controls, from submissions ---------------------------------------------------

def entry_name(directory: str | Path) -> str:
    """The lsdbench entry a checkpoint directory's representation is published as."""
    name = Path(directory).name
    if name.endswith("_diffusion") or name == "mlm":
        return name
    return f"{name}_latent"


def control_targets(entry: str, submissions: str | Path, controls=("aac", "random_transformer"),
                    checkpoint_sha256: str | None = None) -> dict:
    """T1/T2: on how many tasks the entry's committed results beat each control's (paired bootstrap, Holm
    over the tasks the two share). Empty when the entry has no submission yet. With ``checkpoint_sha256``
    only results of those weights count: a submission of another checkpoint of the same name (a tiny
    run called ``mlm``) says nothing about this one."""
    from lsdbench.results.loading import load
    from lsdbench.stats import judge, paired_test

    by_encoder: dict[str, dict[str, object]] = {}
    for loaded in load([submissions]):
        result = loaded.result
        if (result.encoder.name == entry and checkpoint_sha256 is not None
                and result.encoder.config.get("checkpoint_sha256") != checkpoint_sha256):
            continue
        by_encoder.setdefault(result.encoder.name, {})[result.task.name] = result
    mine = by_encoder.get(entry)
    if not mine:
        return {}
    out: dict = {}
    for control in controls:
        theirs = by_encoder.get(control, {})
        tasks = sorted(set(mine) & set(theirs))
        comparisons = [paired_test(mine[t], theirs[t]) for t in tasks]
        verdicts = judge(comparisons)
        key = "beats_aac_tasks" if control == "aac" else f"beats_{control}_tasks"
        out[key] = sum(v == "better" for _, v in verdicts)
        out[f"{key}_of"] = len(tasks)
        out[f"{key}_detail"] = {t: {"delta": c.delta, "ci": [c.ci_low, c.ci_high], "p_holm": p, "verdict": v}
                                for t, c, (p, v) in zip(tasks, comparisons, verdicts, strict=True)}
    return out


# ---- targets ----------------------------------------------------------------------------------------------

def check(kind: str, metrics: dict, homogeneous: bool = False) -> list[dict]:
    """One row per target that applies and was measured: id, value, CI, target text, passed."""
    rows = []
    for tid, name, op, threshold, kinds in TARGETS:
        if kind not in kinds or name not in metrics or (tid == "T4" and homogeneous):
            continue
        value, ci = metrics[name], metrics.get(f"{name}_ci")
        if op == ">=":
            passed, text = value >= threshold, f">= {threshold:g}"
        elif op == "<=":
            passed, text = value <= threshold, f"<= {threshold:g}"
        else:  # the CI's lower bound
            passed, text = ci is not None and ci[0] > threshold, f"CI above {threshold:g}"
        if tid in ("T1", "T2"):
            text += f" of {metrics.get(name + '_of', OPEN_TASKS)}"
        rows.append({"id": tid, "metric": name, "value": value, "ci": ci, "target": text, "passed": bool(passed)})
    return rows


def summarize(kind: str, metrics: dict, homogeneous: bool = False) -> dict:
    """The health record: every number, the targets, passed / missed, and whether claims can rest on it
    (``testable``: False only when the entry beat the random transformer on no task)."""
    rows = check(kind, metrics, homogeneous)
    missed = [f"{r['id']} {r['metric']}" for r in rows if not r["passed"]]
    testable = metrics.get("beats_random_transformer_tasks", 1) > 0
    return {"metrics": metrics, "targets": rows, "passed": not missed, "missed": missed, "testable": testable,
            "protocol": "issue-26 T1-T6 on open-suite test sequences"}
