"""Resampling units shared by test items (``predictions.clusters``): a multi-way cluster bootstrap and
the permutation test's units.

Each item names the units it belongs to: one cluster, or, for a pair task, its two proteins. Items
that share a unit are not independent, so:

- the bootstrap draws the ``k`` units with replacement and weights each item by the product of its
  units' draw counts (the multi-way "pigeonhole" bootstrap of Owen 2007, Owen & Eckles 2012; with one
  unit per item it is the ordinary cluster bootstrap). It is slightly conservative for crossed
  designs, never anti-conservative from the shared units;
- the permutation test swaps A's and B's predictions of a whole connected component of the
  item-unit graph at once (items linked through shared units): the only swaps that keep dependent
  items together. Where one component holds most items (a dense protein graph) it has little power,
  which is honest: such items carry little independent evidence against exchangeability.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from lsdbench.errors import UserError


class ClusterError(UserError, ValueError):
    """Clusters that do not fit the items they claim to group (a result or submission's own record)."""


@dataclass(frozen=True, eq=False)
class Clusters:
    """Canonical form of per-item unit lists: units renumbered 0..k-1 by first appearance."""

    units: np.ndarray  # items x m unit numbers, padded with k (a unit whose draw count is always 1)
    k: int  # number of units
    components: np.ndarray  # per item: its connected component, 0..c-1 by first appearance
    key: str  # sha256 of the canonical form: equal partitions, equal keys

    @property
    def n_components(self) -> int:
        return int(self.components.max()) + 1

    def weights(self, unit_counts: np.ndarray) -> np.ndarray:
        """Item weights (resamples x items) from the units' draw counts (resamples x k)."""
        ext = np.concatenate([unit_counts, np.ones((len(unit_counts), 1))], axis=1)
        W = ext[:, self.units[:, 0]]
        for j in range(1, self.units.shape[1]):
            W = W * ext[:, self.units[:, j]]
        return W


def _unit_lists(raw, n: int) -> list[list[int]]:
    if not isinstance(raw, (list, tuple, np.ndarray)) or len(raw) != n:
        raise ClusterError("predictions.clusters must name the units of every test item")
    out = []
    for v in raw:
        units = list(v) if isinstance(v, (list, tuple, np.ndarray)) else [v]
        if not units or not all(isinstance(u, (int, np.integer)) and not isinstance(u, bool) and u >= 0
                                for u in units):
            raise ClusterError("predictions.clusters must hold, per item, a non-negative integer or a "
                               "non-empty list of them")
        out.append([int(u) for u in units])
    return out


def _components(units: list[list[int]], k: int) -> np.ndarray:
    parent = list(range(k))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for us in units:
        r = root(us[0])
        for u in us[1:]:
            ru = root(u)
            if ru != r:
                parent[ru] = r
    number: dict[int, int] = {}
    return np.array([number.setdefault(root(us[0]), len(number)) for us in units], dtype=np.intp)


def make_clusters(raw, n: int) -> Clusters:
    """``Clusters`` of ``n`` items from their recorded units (ClusterError when malformed)."""
    lists = _unit_lists(raw, n)
    number: dict[int, int] = {}
    canon = [sorted({number.setdefault(u, len(number)) for u in us}) for us in lists]
    k = len(number)
    m = max(len(us) for us in canon)
    units = np.full((n, m), k, dtype=np.intp)
    for i, us in enumerate(canon):
        units[i, :len(us)] = us
    key = hashlib.sha256(units.astype(np.int64).tobytes() + str(units.shape).encode()).hexdigest()
    return Clusters(units, k, _components(canon, k), key)
