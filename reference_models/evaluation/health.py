"""Health diagnostics of the reference models: is a latent more than residue identity, is the MLM a
language model, does Noise Masking mask, where does a denoiser struggle.

A representation is only as good as its controls. The first committed LSD-TN latent was a residue-type
lookup table (residue type explained all but 5e-6 of its variance) and still "reconstructed" perfectly,
so reconstruction accuracy says nothing; these numbers do. They are computed at the end of training
(stored in ``meta.json`` under ``health`` and in the model card) and by ``lsd-train health DIR`` on any
checkpoint directory. A model that misses a target is kept but says so loudly.

The array functions at the top take plain numpy arrays, so they can be checked on synthetic latents.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F

from reference_models.corpus import alphabet as A

# (metric, comparison, threshold, applies to): the targets of issue 12, in one place.
TARGETS = (
    ("within_type_variance_share", ">=", 0.10, ("lsd_tn", "lsd_nm")),
    ("composition_r2", "<=", 0.90, ("lsd_tn", "lsd_nm", "mlm")),
    ("perplexity_ratio", "<=", 0.75, ("mlm",)),
    ("identity_loss_fraction", "between", (0.10, 0.30), ("lsd_nm",)),
)


# ---- array diagnostics ------------------------------------------------------------------------------

def within_type_variance_share(z: np.ndarray, types: np.ndarray) -> float:
    """Share of the total latent variance (summed over channels) NOT explained by residue type.

    0 for a per-type lookup table; 1 when every type has the same mean.
    """
    z = np.asarray(z, dtype=np.float64)
    total = ((z - z.mean(0)) ** 2).sum()
    within = 0.0
    for k in np.unique(types):
        rows = z[types == k]
        within += ((rows - rows.mean(0)) ** 2).sum()
    return float(within / total) if total > 0 else 0.0


def nearest_centroid_accuracy(z_fit, types_fit, z_eval, types_eval) -> float:
    """Accuracy of the nearest per-type centroid (centroids from the fit rows) on the eval rows."""
    z_fit, z_eval = np.asarray(z_fit, np.float64), np.asarray(z_eval, np.float64)
    labels = np.unique(types_fit)
    centroids = np.stack([z_fit[types_fit == k].mean(0) for k in labels])
    d2 = (z_eval ** 2).sum(1)[:, None] - 2 * z_eval @ centroids.T + (centroids ** 2).sum(1)[None]
    return float((labels[d2.argmin(1)] == types_eval).mean())


def neighbour_identity(z_fit, types_fit, next_fit, z_eval, types_eval, next_eval, *, max_fit: int = 30_000,
                       seed: int = 0) -> dict:
    """Does a residue's latent know its neighbour? Held-out accuracy of a linear probe (multinomial
    logistic regression) predicting the NEXT residue's type from the latent plus the residue's own type
    (one-hot), against the same probe on the own type alone: the bigram guess.

    A residue-type lookup adds nothing to its own type, so its gain is ~0; a latent that carries context
    gains. Issue 12's question "is the latent more than residue identity", at any scale of the latent (the
    variance share cannot see context carried by small variations that the decoder amplifies).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    n = A.N_TYPES
    keep_fit, keep_eval = np.flatnonzero(next_fit >= 0), np.flatnonzero(next_eval >= 0)  # last residues: no next
    rng = np.random.default_rng(seed)
    if len(keep_fit) > max_fit:  # a subsample keeps the fit to seconds; the eval rows are all used
        keep_fit = np.sort(rng.choice(keep_fit, max_fit, replace=False))

    def probe(x_fit, x_eval) -> float:
        scaler = StandardScaler().fit(x_fit)
        clf = LogisticRegression(max_iter=300).fit(scaler.transform(x_fit), next_fit[keep_fit])
        return float((clf.predict(scaler.transform(x_eval)) == next_eval[keep_eval]).mean())

    own_fit, own_eval = np.eye(n)[types_fit[keep_fit]], np.eye(n)[types_eval[keep_eval]]
    acc = probe(np.hstack([np.asarray(z_fit, np.float64)[keep_fit], own_fit]),
                np.hstack([np.asarray(z_eval, np.float64)[keep_eval], own_eval]))
    base = probe(own_fit, own_eval)
    return {"next_type_accuracy": acc, "next_type_accuracy_bigram": base, "next_type_gain": acc - base}


def composition(sequences: Iterable[str]) -> np.ndarray:
    """(n, 21) residue-type frequencies (20 canonical + X)."""
    rows = []
    for s in sequences:
        ids = np.asarray(A.encode(s), dtype=np.int64) - A.FIRST_RESIDUE
        rows.append(np.bincount(ids, minlength=A.N_TYPES) / max(len(ids), 1))
    return np.asarray(rows, dtype=np.float64)


def composition_r2(comp_fit, pooled_fit, comp_eval, pooled_eval, ridge: float = 1e-6) -> float:
    """Held-out R² (variance-weighted over channels) of mean-pooled latents predicted linearly from
    amino-acid composition. Near 1: the pooled representation is a function of composition (AAC)."""
    def design(c):
        return np.hstack([np.asarray(c, np.float64), np.ones((len(c), 1))])

    x, y = design(comp_fit), np.asarray(pooled_fit, np.float64)
    w = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y)
    y_eval = np.asarray(pooled_eval, np.float64)
    resid = ((y_eval - design(comp_eval) @ w) ** 2).sum()
    total = ((y_eval - y_eval.mean(0)) ** 2).sum()
    return float(1 - resid / total) if total > 0 else 1.0


def check_targets(kind: str, metrics: dict) -> list[dict]:
    """One row per target that applies to ``kind``: value, target text and whether it passed."""
    rows = []
    for name, op, threshold, kinds in TARGETS:
        if kind not in kinds or name not in metrics:
            continue
        value = metrics[name]
        if op == ">=":
            passed, text = value >= threshold, f">= {threshold:g}"
        elif op == "<=":
            passed, text = value <= threshold, f"<= {threshold:g}"
        else:
            passed, text = threshold[0] <= value <= threshold[1], f"in [{threshold[0]:g}, {threshold[1]:g}]"
        rows.append({"metric": name, "value": value, "target": text, "passed": bool(passed)})
    return rows


def summarize(kind: str, metrics: dict) -> dict:
    rows = check_targets(kind, metrics)
    missed = [r["metric"] for r in rows if not r["passed"]]
    return {"metrics": metrics, "targets": rows, "passed": not missed, "missed": missed}


def warn_if_unhealthy(name: str, health: dict) -> None:
    """Say it loudly: a model that misses a target is still written, but nobody should miss that."""
    for row in health["targets"]:
        if not row["passed"]:
            consequence = ("claims resting on this model are not testable" if health.get("testable") is False
                           else "reported beside every claim resting on this model")
            msg = (f"HEALTH TARGET MISSED: {name}: {row['metric']} = {row['value']:.4g} (target {row['target']}); "
                   f"{consequence}")
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
            print(msg, flush=True)


# ---- model diagnostics --------------------------------------------------------------------------------

@torch.no_grad()
def collect_latents(latents_fn, batches, with_next: bool = False):
    """(per-residue latents (N, d), their residue types (N,), mean-pooled latent per sequence (S, d), residue-type
    composition per sequence (S, 21)[, type of the next residue (N,), -1 at a sequence's end]). Compositions
    come from the same tokens as the latents, so the rows match whatever order the batches are in (token-budget
    batches sort by length)."""
    rows, types, pooled, comps, nexts = [], [], [], [], []
    for tokens in batches:
        z, mask = latents_fn(tokens)
        inner_types = A.residue_types(tokens[:, 1:-1])
        rows.append(z[mask].double().numpy())
        types.append(inner_types[mask].numpy())
        following = torch.roll(inner_types, -1, dims=1)
        has_next = torch.roll(mask, -1, dims=1) & mask
        has_next[:, -1] = False
        nexts.append(torch.where(has_next, following, torch.full_like(following, -1))[mask].numpy())
        m = mask[..., None].double()
        pooled.append(((z.double() * m).sum(1) / m.sum(1).clamp(min=1)).numpy())
        onehot = F.one_hot(inner_types, A.N_TYPES).double() * m
        comps.append((onehot.sum(1) / m.sum(1).clamp(min=1)).numpy())
    out = (np.concatenate(rows), np.concatenate(types), np.concatenate(pooled), np.concatenate(comps))
    return (*out, np.concatenate(nexts)) if with_next else out


def latent_health(latents_fn, fit_batches, eval_batches) -> dict:
    """Latent diagnostics: fit rows come from training sequences, everything is scored on held-out ones."""
    z_fit, t_fit, p_fit, c_fit, n_fit = collect_latents(latents_fn, fit_batches, with_next=True)
    z_ev, t_ev, p_ev, c_ev, n_ev = collect_latents(latents_fn, eval_batches, with_next=True)
    return {
        "within_type_variance_share": within_type_variance_share(z_ev, t_ev),
        "nearest_centroid_accuracy": nearest_centroid_accuracy(z_fit, t_fit, z_ev, t_ev),
        "composition_r2": composition_r2(c_fit, p_fit, c_ev, p_ev),
        **neighbour_identity(z_fit, t_fit, n_fit, z_ev, t_ev, n_ev),
        "health_fit_sequences": len(p_fit), "health_eval_sequences": len(p_ev),
    }


def unigram_log_probs(sequences: Iterable[str]) -> torch.Tensor:
    """(vocab,) log-frequencies of residue types in ``sequences`` (add-one), -inf for special tokens."""
    counts = np.ones(A.N_TYPES)
    if hasattr(sequences, "residue_counts"):  # a memory-mapped corpus: counted in blocks, same integers
        counts += sequences.residue_counts(A.N_TYPES, A.FIRST_RESIDUE)
        sequences = ()
    for s in sequences:
        counts += np.bincount(np.asarray(A.encode(s)) - A.FIRST_RESIDUE, minlength=A.N_TYPES)
    logp = torch.full((A.VOCAB_SIZE,), -math.inf, dtype=torch.float64)
    logp[A.FIRST_RESIDUE:] = torch.from_numpy(np.log(counts / counts.sum()))
    return logp


@torch.no_grad()
def mlm_health(model, batches, train_seqs, seed: int = 0) -> dict:
    """Held-out masked accuracy and perplexity, and the unigram perplexity on the same masked positions."""
    from reference_models.networks.mlm import mask_tokens

    logp = unigram_log_probs(train_seqs)
    g = torch.Generator().manual_seed(seed)
    ce = uni = correct = n = 0.0
    for tokens in batches:
        inputs, sel = mask_tokens(tokens, model.cfg, g)
        logits = model(inputs)[sel].float()
        target = tokens[sel]
        ce += F.cross_entropy(logits, target, reduction="sum").item()
        uni -= logp[target].sum().item()
        correct += (logits.argmax(-1) == target).sum().item()
        n += sel.sum().item()
    ppl, uppl = math.exp(ce / max(n, 1)), math.exp(uni / max(n, 1))
    return {"heldout_masked_accuracy": correct / max(n, 1), "heldout_perplexity": ppl,
            "unigram_perplexity": uppl, "perplexity_ratio": ppl / uppl, "heldout_masked_tokens": int(n)}


@torch.no_grad()
def identity_loss(model, batches, seed: int = 0) -> dict:
    """Noise Masking: share of corrupted residues whose corrupted input embedding is nearer another residue
    type's embedding than its own (identity lost without context), and that share of all residues."""
    from reference_models.networks.autoencoder import apply_noise_mask, noise_mask_plan

    g = torch.Generator().manual_seed(seed)
    d = model.embed.embedding_dim
    table = F.rms_norm(model.embed.weight[A.FIRST_RESIDUE:], (d,)).double()  # the 21 residue types
    lost = corrupted = residues = 0
    for tokens in batches:
        plan = noise_mask_plan(tokens, d, model.cfg, g)
        emb = F.rms_norm(model.embed(tokens), (d,))
        noisy = apply_noise_mask(emb, plan["nm_selected"], plan["nm_level"], plan["nm_noise"])
        sel = plan["nm_selected"]
        x = noisy[sel].double()
        nearest = (x @ table.T - 0.5 * (table * table).sum(1)).argmax(1)
        lost += int((nearest != A.residue_types(tokens[sel])).sum())
        corrupted += int(sel.sum())
        residues += int(A.is_residue(tokens).sum())
    return {"identity_loss_fraction": lost / max(corrupted, 1), "identity_loss_share_of_residues": lost / max(residues, 1),
            "corrupted_share_of_residues": corrupted / max(residues, 1)}


def render_rows(health: dict) -> list[str]:
    """Markdown table rows of a health summary (for the model card and the CLI): the targets first (with
    their 95 % CI where measured), then every other number as a description."""
    lines = ["| target | diagnostic | value | 95 % CI | target | |", "|---|---|---|---|---|---|"]
    targets = health.get("targets", [])
    for row in targets:
        ci = row.get("ci")
        ci_text = f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""
        value = row["value"]
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        lines.append(f"| {row.get('id', '')} | {row['metric']} | {shown} | {ci_text} | {row['target']} | "
                     f"{'pass' if row['passed'] else '**MISSED**'} |")
    listed = {r["metric"] for r in targets}
    for key, value in health["metrics"].items():
        if isinstance(value, float) and key not in listed:
            ci = health["metrics"].get(f"{key}_ci")
            ci_text = f"[{ci[0]:.4f}, {ci[1]:.4f}]" if isinstance(ci, list) else ""
            lines.append(f"| | {key} | {value:.4f} | {ci_text} | | |")
    return lines
