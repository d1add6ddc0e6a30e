"""Probes of protocol ``lsdbench-probe-1``, following scikit-learn's estimator conventions.

Hyperparameters are explicit keywords stored unchanged by ``__init__`` (so ``sklearn.base.clone``
works); ``fit(X, y, X_valid, y_valid)`` returns self. Features are standardized with statistics of
the training split only. Labels of classification tasks are class indices 0..n_classes-1.

- ``LinearProbe``: ridge regression, or L2 logistic regression (multinomial for multiclass). The
  regularization strength is chosen from a fixed log-spaced grid by the primary metric on the
  validation split (ties: the strongest regularization, i.e. the first grid value), and the final
  model is the one fitted on train at that strength. The grid is walked from the strongest
  regularization with warm starts (logistic), so the result depends on nothing but the data and the
  grid: deterministic, and reproducible by a plain scikit-learn loop. ``probing.fit_and_score`` runs
  it on one BLAS/OpenMP thread, so the fitted bits do not depend on the machine's core count.
- ``MLPProbe``: one hidden layer (torch), early stopping on the validation metric, one seed per
  instance; ``lsdbench.probe.probing`` runs it for K seeds and reports mean and std.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler

from lsdbench.errors import UserError
from lsdbench.metrics.registry import compute_metric, higher_is_better

LOGISTIC_C_GRID = tuple(float(c) for c in np.logspace(-4, 2, 7))  # inverse strength: small C = strong
RIDGE_ALPHA_GRID = tuple(float(a) for a in np.logspace(5, -2, 8))  # strength: large alpha = strong
CLASSIFICATION = ("binary", "multiclass", "pair_binary")


class ProbeError(UserError, ValueError):
    """A probe got inconsistent data (e.g. no validation split, a label outside the classes)."""


def _check_xy(X, y, what: str, n_classes: int | None):
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or len(X) != len(y):
        raise ProbeError(f"{what}: features {X.shape} and labels {y.shape} do not match")
    if not np.isfinite(X).all():
        raise ProbeError(f"{what}: features contain NaN or inf")
    if n_classes is not None and (y.min() < 0 or y.max() >= n_classes):
        raise ProbeError(f"{what}: labels must be class indices in [0, {n_classes})")
    return X, y


def _full_proba(proba: np.ndarray, classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Class probabilities with one column per class, also for classes absent from train."""
    out = np.zeros((len(proba), n_classes))
    out[:, classes.astype(int)] = proba
    return out


def _score_of(task_type: str, metric: str, y, pred, proba) -> float:
    y_score = None
    if proba is not None and task_type != "multiclass":
        y_score = proba[:, 1]
    return compute_metric(metric, y, pred, y_score)


def _keep_params(estimator, params: dict) -> None:
    """Each ``__init__`` argument stored unchanged under its own name, as scikit-learn's get_params expects."""
    for name, value in params.items():
        if name != "self":
            setattr(estimator, name, value)


class _Probe(BaseEstimator):
    """What both probes share: class count, the validation metric and its sign, predictions from outputs.

    Subclasses define ``_outputs_of(X)``: (predictions, class probabilities or None) of unscaled features.
    """

    def _classification(self) -> bool:
        return self.task_type in CLASSIFICATION

    def _k(self, y) -> int | None:
        if not self._classification():
            return None
        return int(self.n_classes) if self.n_classes is not None else int(np.max(y)) + 1

    def _selection(self) -> tuple[str, float]:
        """The validation metric and its sign: larger ``sign * score`` is better."""
        metric = self.metric or ("accuracy" if self._classification() else "spearman")
        return metric, 1.0 if higher_is_better(metric) else -1.0

    def _key(self, metric: str, sign: float, y, outputs) -> tuple[float, float]:
        """The validation score of ``outputs`` and its key for selection (a NaN score ranks last)."""
        score = _score_of(self.task_type, metric, y, *outputs)
        return score, sign * score if np.isfinite(score) else -np.inf

    def _scaled(self, X) -> np.ndarray:
        return self.scaler_.transform(np.ascontiguousarray(X, dtype=np.float64))

    def predict(self, X) -> np.ndarray:
        return self._outputs_of(X)[0]

    def predict_proba(self, X) -> np.ndarray:
        if not self._classification():
            raise ProbeError("predict_proba is for classification tasks")
        return self._outputs_of(X)[1]


class LinearProbe(_Probe):
    def __init__(self, task_type: str = "binary", *, metric: str | None = None, grid: tuple | None = None,
                 n_classes: int | None = None, max_iter: int = 2000, tol: float = 1e-6):
        _keep_params(self, locals())

    # the grid value names the probe's one hyperparameter: C for logistic, alpha for ridge
    @property
    def param_name(self) -> str:
        return "C" if self._classification() else "alpha"

    def _grid(self) -> tuple:
        if self.grid is not None:
            return tuple(float(g) for g in self.grid)
        return LOGISTIC_C_GRID if self._classification() else RIDGE_ALPHA_GRID

    def _head(self):
        if self._classification():
            # warm start along the path, strongest regularization first: each fit starts from the
            # previous solution (about 3x faster than cold fits, and still deterministic)
            return LogisticRegression(max_iter=self.max_iter, tol=self.tol, warm_start=True)
        return Ridge()

    def fit(self, X, y, X_valid=None, y_valid=None):
        k = self.k_ = self._k(y)
        X, y = _check_xy(X, y, "train", k)
        grid = self._grid()
        if X_valid is None and len(grid) > 1:
            raise ProbeError("LinearProbe.fit needs X_valid/y_valid to choose among several grid values")
        metric, sign = self._selection()
        scaler = StandardScaler().fit(X)
        Xs = scaler.transform(X)
        Xv = yv = None
        if X_valid is not None:
            Xv, yv = _check_xy(X_valid, y_valid, "valid", k)
            Xv = scaler.transform(Xv)
        head, best, best_value, best_head, scores = self._head(), -np.inf, None, None, {}
        for value in grid:
            head.set_params(**{self.param_name: value})
            with warnings.catch_warnings():
                # weak regularization on separable data may stop at max_iter: still deterministic, and
                # the validation metric decides whether that fit is used
                warnings.simplefilter("ignore", ConvergenceWarning)
                head.fit(Xs, y)
            if Xv is None:
                best_value, best_head = value, copy.deepcopy(head)
                break
            scores[value], key = self._key(metric, sign, yv, self._outputs(head, Xv))
            if best_head is None or key > best:  # strict: ties keep the earlier (stronger) value
                best, best_value, best_head = key, value, copy.deepcopy(head)
        self.valid_scores_ = scores
        self.scaler_, self.head_ = scaler, best_head
        self.selected_ = {self.param_name: best_value}
        self.classes_ = np.arange(k) if k is not None else None
        return self

    def _outputs(self, head, Xs):
        if self._classification():
            proba = _full_proba(head.predict_proba(Xs), head.classes_, self.k_)
            return proba.argmax(axis=1), proba
        return head.predict(Xs), None

    def _outputs_of(self, X):
        return self._outputs(self.head_, self._scaled(X))


class _MLP(torch.nn.Module):
    def __init__(self, d_in: int, hidden: int, d_out: int, dropout: float):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(d_in, hidden), torch.nn.ReLU(), torch.nn.Dropout(dropout),
                                       torch.nn.Linear(hidden, d_out))

    def forward(self, x):
        return self.net(x)


class MLPProbe(_Probe):
    def __init__(self, task_type: str = "binary", *, metric: str | None = None, n_classes: int | None = None,
                 hidden: int = 256, dropout: float = 0.1, lr: float = 1e-3, weight_decay: float = 1e-2,
                 batch_size: int = 128, max_epochs: int = 200, patience: int = 15, seed: int = 0):
        _keep_params(self, locals())

    def fit(self, X, y, X_valid=None, y_valid=None):
        if X_valid is None:
            raise ProbeError("MLPProbe.fit needs X_valid/y_valid for early stopping")
        k = self._k(y)
        X, y = _check_xy(X, y, "train", k)
        Xv, yv = _check_xy(X_valid, y_valid, "valid", k)
        self.scaler_ = StandardScaler().fit(X)
        xt = torch.from_numpy(self.scaler_.transform(X).astype(np.float32))
        xv = torch.from_numpy(self.scaler_.transform(Xv).astype(np.float32))
        if self._classification():
            yt = torch.from_numpy(y.astype(np.int64))
            loss_fn = torch.nn.CrossEntropyLoss()
        else:  # regress standardized targets so one learning rate suits every task's units
            self.y_mean_, self.y_std_ = float(y.mean()), float(y.std() or 1.0)
            yt = torch.from_numpy(((y - self.y_mean_) / self.y_std_).astype(np.float32))[:, None]
            loss_fn = torch.nn.MSELoss()
        gen = torch.Generator().manual_seed(int(self.seed))
        torch.manual_seed(int(self.seed))  # the layer initialisation draws from the global generator
        self.model_ = _MLP(xt.shape[1], self.hidden, k or 1, self.dropout)
        opt = torch.optim.AdamW(self.model_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        metric, sign = self._selection()
        best, best_state, since = -np.inf, None, 0
        self.epochs_ = 0
        for epoch in range(self.max_epochs):
            self.model_.train()
            order = torch.randperm(len(xt), generator=gen)
            for start in range(0, len(xt), self.batch_size):
                idx = order[start:start + self.batch_size]
                opt.zero_grad(set_to_none=True)
                loss_fn(self.model_(xt[idx]), yt[idx]).backward()
                opt.step()
            _, key = self._key(metric, sign, yv, self._outputs(xv))
            if best_state is None or key > best:
                best, best_state, since, self.epochs_ = key, copy.deepcopy(self.model_.state_dict()), 0, epoch + 1
            else:
                since += 1
                if since >= self.patience:
                    break
        self.model_.load_state_dict(best_state)
        self.selected_ = {"epochs": self.epochs_}
        self.classes_ = np.arange(k) if k is not None else None
        return self

    def _outputs(self, x: torch.Tensor):
        self.model_.eval()
        with torch.inference_mode():
            out = self.model_(x)
        if self._classification():
            proba = torch.softmax(out.double(), dim=1).numpy()
            return proba.argmax(axis=1), proba
        return out[:, 0].double().numpy() * self.y_std_ + self.y_mean_, None

    def _outputs_of(self, X):
        return self._outputs(torch.from_numpy(self._scaled(X).astype(np.float32)))


PROBES = {"linear": LinearProbe, "mlp": MLPProbe}
