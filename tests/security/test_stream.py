"""The query-stream detector: ranks as the oracle serves them, ratios that follow their formulas,
list-following and random attackers flagged at the volume of benign users, benign users not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from graphrec.data.split import from_token
from graphrec.models.batch import SequenceBatch
from graphrec.security.oracle import Oracle
from graphrec.security.queries import autoregressive_queries, label_prefixes, random_queries
from graphrec.security.stream import (
    COMPONENTS,
    CONTEXT_EDGES,
    DEGREE_EDGES,
    NO_TRANSITION,
    Moves,
    QueryStreamDetector,
    rank_edges,
    transition_ranks,
)

DRIFT_MAX_LEN = 10
"""Input length of the shared ``drift_target`` model (tests/conftest.py)."""


class NextInLine(nn.Module):
    """Scores item ``(last + j) mod I`` highest for j = 1, 2, ...: ranks are easy to predict."""

    def __init__(self, num_items: int = 20) -> None:
        super().__init__()
        self.num_items = num_items
        self.bias = nn.Parameter(torch.zeros(num_items))

    def full_sort_predict(self, batch: SequenceBatch) -> Tensor:
        last = from_token(batch.items[:, -1])  # [B]
        offset = (torch.arange(self.num_items) - last.unsqueeze(1)) % self.num_items  # [B, I]
        return -offset.float() + self.bias  # [B, I]


def test_transition_ranks_are_positions_in_the_served_list() -> None:
    model = NextInLine()
    queries = [(3, 4), (3, 6), (3, 5, 4), (7,), (2, 5, 2)]
    ranks = transition_ranks(model, queries, max_len=4)
    # after 3: 4 is served first; 6 third; after (3, 5): 6, 7, ... then 4 (3 and 5 excluded)
    assert ranks[0] == 1 and ranks[1] == 3
    served = Oracle(model, max_len=4, max_k=20).recommend([3, 5], k=18)
    assert ranks[2] == served.index(4) + 1
    assert ranks[3] == NO_TRANSITION and ranks[4] == NO_TRANSITION  # one item; a repeat


def test_rank_edges_split_at_the_list_length() -> None:
    edges = rank_edges(1682, 100)
    assert edges[0] == 1 and edges[-1] == 1683 and 101 in edges
    assert np.all(np.diff(edges) > 0)
    with pytest.raises(ValueError, match="list_length"):
        rank_edges(10, 11)


@pytest.fixture(scope="module")
def fitted(drift_detector):
    return drift_detector


def test_ratios_follow_their_formulas(fitted) -> None:
    detector, _, _, _ = fitted
    bins_count = len(detector.edges_) - 1
    assert detector.benign_.shape == (len(CONTEXT_EDGES), bins_count)
    assert detector.types_.shape == (detector.num_types, len(CONTEXT_EDGES), bins_count)
    assert np.allclose(detector.types_.sum(2), 1.0)
    assert np.allclose(detector.popularity_types_.sum(1), 1.0)
    widths = np.diff(detector.edges_)
    inside = np.clip(np.minimum(detector.edges_[1:], 11) - detector.edges_[:-1], 0, None)
    ranks = np.array([1, 5, 10, 11, 40, NO_TRANSITION])
    moves = Moves(ranks, np.array([1, 2, 7, 7, 40, 3]), np.array([0, 1, 2, 3, 4, 5]))
    llr = detector.transition_llrs(moves)
    assert llr.shape == (6, len(COMPONENTS), detector.num_types)
    bins = np.searchsorted(detector.edges_, ranks[:-1], side="right") - 1
    buckets = np.array([0, 1, 3, 3, 6])  # prefix lengths 1, 2, 7, 7, 40
    degree = np.searchsorted(DEGREE_EDGES, detector.item_popularity[:5], side="right") - 1
    catalogue = np.bincount(
        np.searchsorted(DEGREE_EDGES, detector.item_popularity, side="right") - 1,
        minlength=len(DEGREE_EDGES),
    )
    catalogue = (catalogue + 0.5) / (catalogue + 0.5).sum()
    for k in range(detector.num_types):
        p = detector.types_[k, buckets, bins]
        q_list = 0.99 * inside[bins] / 10 + 0.01 * p
        assert np.allclose(llr[:-1, 0, k], np.log(q_list / p))
        uniform = np.log(widths[bins] / detector.num_items / p) + np.log(
            catalogue[degree] / detector.popularity_types_[k, degree]
        )
        assert np.allclose(llr[:-1, 1, k], uniform)
    assert np.all(llr[-1] == 0)
    # a list of 5 items: rank 8 is off that list, so it costs the list component
    one = Moves(np.array([8]), np.array([4]), np.array([0]))
    shorter = detector.transition_llrs(Moves(one.ranks, one.contexts, one.items, np.array([5])))
    longer = detector.transition_llrs(one)
    assert np.all(shorter[0, 0] < longer[0, 0]) and np.allclose(shorter[0, 1], longer[0, 1])


def test_statistics_take_the_best_benign_type_and_the_running_peak(fitted) -> None:
    detector, _, _, _ = fitted
    stream = [(1, 2), (1, 2, 3), (1, 2, 3, 9)]
    (moves,) = detector.moves_of([stream])
    cumulative = np.cumsum(detector.transition_llrs(moves), axis=0).min(2)  # [n, C]
    expected = np.maximum(cumulative.max(0), 0.0)
    assert np.allclose(detector.account_statistics([stream])[0], expected)


def test_attackers_are_flagged_and_benign_users_are_not(fitted) -> None:
    detector, streams, model, split = fitted
    oracle = Oracle(model, max_len=DRIFT_MAX_LEN, max_k=10)
    rng = np.random.default_rng(1)
    owners = [f"ar{a}" for a in range(10) for _ in range(2)]  # 10 accounts of 2 sequences
    autoregressive_queries(oracle, split.num_items, 20, 8, 10, rng, owners)
    sequences = random_queries(split.num_items, 20, 8, rng)
    label_prefixes(oracle, sequences, 10, account=[f"rnd{a}" for a in range(10) for _ in range(2)])
    log = oracle.query_log
    listed = [log[f"ar{a}"] for a in range(10)]
    randoms = [log[f"rnd{a}"] for a in range(10)]
    assert detector.predict(listed).mean() >= 0.9
    assert detector.predict(randoms).mean() >= 0.9
    assert detector.predict(streams["eval"]).mean() <= 0.1
    assert (
        detector.decision_function(listed).min()
        > detector.decision_function(streams["eval"]).mean()
    )


def test_fit_needs_transitions(drift_target) -> None:
    model, _ = drift_target
    detector = QueryStreamDetector(model, max_len=DRIFT_MAX_LEN, list_length=10)
    with pytest.raises(ValueError, match="no transition"):
        detector.fit([[(1,), (2,)]], [[(1, 2)], [(2, 3)]])
    with pytest.raises(ValueError, match="eps"):
        QueryStreamDetector(model, eps=0.0)
