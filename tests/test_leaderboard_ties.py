"""Tie groups of the leaderboard (lsdbench.leaderboard.ties) against a brute-force reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lsdbench.leaderboard.ties import TieRank, tie_groups


def reference(signed, tied_pairs):
    """Groups by hand: repeatedly take the best remaining, and the remaining entries tied with it."""
    left, out, pos, g = list(range(len(signed))), {}, 0, 0
    while left:
        lead = min(left, key=lambda i: (-signed[i], i))
        group = [i for i in left if i == lead or frozenset((i, lead)) in tied_pairs]
        g += 1
        for i in group:
            out[i] = (g, pos + 1, pos + len(group))
        pos += len(group)
        left = [i for i in left if i not in group]
    return [out[i] for i in range(len(signed))]


def test_tie_groups_match_a_brute_force_reference_on_every_small_case():
    rng = np.random.default_rng(0)
    for n in range(1, 6):
        pairs = list(itertools.combinations(range(n), 2))
        for _ in range(40):
            signed = rng.integers(0, 4, n).astype(float)  # equal scores too: ties resolved by index
            tied = {frozenset(p) for p in pairs if rng.random() < 0.5}
            calls = []

            def test(leader, others, tied=tied, calls=calls):
                calls.append((leader, list(others)))
                return ["not distinguishable" if frozenset((i, leader)) in tied else "worse" for i in others]

            got = tie_groups(signed, test)
            assert [(t.group, t.low, t.high) for t in got] == reference(signed, tied)
            assert n == 1 or calls[0][0] == int(np.argmax(signed))  # the first round: against the best
            assert sum(t.mid for t in got) == pytest.approx(n * (n + 1) / 2)  # ranks 1..n, ties averaged


def test_tie_rank_text_and_mid():
    assert TieRank(1, 1, 3).text() == "1\u20133" and TieRank(1, 1, 3).mid == 2.0
    assert TieRank(2, 4, 4).text() == "4" and TieRank(2, 4, 4).mid == 4.0


def test_a_tester_with_the_wrong_number_of_verdicts_is_refused():
    with pytest.raises(ValueError, match="1 verdicts for 2 comparisons"):
        tie_groups(np.array([3.0, 2.0, 1.0]), lambda leader, others: ["worse"])
