"""Query-stream likelihood: flag accounts whose queries do not move the way real users move.

SEAT (:mod:`graphrec.security.seat`) counts near-duplicate queries, but a real user who asks for
recommendations after every rating sends near-duplicates too (each query is the last one plus an
item), so at matched volume it cannot tell the two apart. This detector reads what a data-free
extraction attacker cannot fake without data: *where its next item comes from*. In the spirit of
PRADA (Juuti et al., EuroS&P 2019: flag a client from the distribution of its query stream), each
query of two or more items is a *transition*, its last item after the rest, and the service ranks
that item under the model it serves (:func:`transition_ranks`: the item's position in the list
the prefix would be served, prefix items excluded).

* Real users move to items the model ranks anywhere (on ML-100K, 65 % within the top 100 and 1 %
  beyond rank 1,000).
* Yue et al.'s autoregressive attacker appends an item OF the served list: rank <= k, always.
* A random-query attacker appends an item uniform over the catalogue.

Real users differ: some follow the model closely, some rate items it ranks in the hundreds. The
benign hypothesis is therefore a FAMILY of rank distributions ``p_1..p_K`` (``num_types``
groups of training users, from the most to the least predictable, each fitted on its users'
transitions per prefix length :data:`CONTEXT_EDGES`, shrunk towards the pooled distribution), and
each component is a generalised likelihood ratio against the benign type that explains the
account best. Per account and component ``c``:

    ``S_c(t) = min_k sum_{s <= t} log q_c(b_s) / p_k(b_s)``

over its transitions' binned ranks ``b_s`` (:meth:`QueryStreamDetector.transition_llrs`), with

* ``list``:  ``q_list = (1 - eps) * uniform over ranks 1..k + eps * p_k`` (any list-following
  attacker, whatever it samples inside the list, scores high: a real user, even a predictable
  one, leaves the list now and then, and each such move costs about ``log eps``);
* ``uniform``: ``q_uniform`` uniform over the catalogue (the random-query attacker): its rank is
  uniform, and so is the moved-to item, whose training popularity (``item_popularity``, binned
  by :data:`DEGREE_EDGES`) then follows the catalogue's own spread, while real users, even the
  most eclectic, seldom move to items almost nobody rated. Both terms are added.

Each is a sequential probability ratio (Wald): it drifts down under benign traffic and up under
the matching attack, so a CONSTANT threshold bounds false alarms over a whole stream. The account
statistic is the running maximum of ``S_c`` (floored at 0); the online rule
(:meth:`QueryStreamDetector.fit`) flags an account while a component is above its threshold
``thresholds_`` (the conformal quantile, over held-out benign accounts, of the running maxima): a
benign user whose first moves look list-following drifts back below as its stream goes on.
Nothing here depends on the number of queries an account sends, only on how its items move;
aggregated benign users (a household, a proxy) move like benign users. Its blind spot: a real
user who moves almost at random with respect to the model looks like a random-query attacker
(the ``uniform`` component), however many users the family holds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from graphrec.data.split import pad_sequences
from graphrec.errors import GraphrecError
from graphrec.models.batch import SequenceBatch
from graphrec.security.conformal import conformal_quantile
from graphrec.security.oracle import ANONYMOUS_USER
from graphrec.security.traffic import Streams, as_stream_list

log = logging.getLogger(__name__)

COMPONENTS = ("list", "uniform")
CONTEXT_EDGES = np.array([1, 2, 3, 5, 9, 17, 33])
"""Prefix-length buckets ``[1], [2], [3, 4], [5, 8], [9, 16], [17, 32], [33, ...)``: users move
differently after one item than after thirty (the model knows less), so ``p`` is fitted per
bucket and an account is compared with benign users at the same point of their history."""
CONTEXT_PRIOR = 50.0
"""Pseudo-transitions of the pooled distribution added to each bucket (sparse buckets shrink)."""
NO_TRANSITION = -1
"""Rank of a query with no transition (a single item, or a last item already in the prefix)."""
DEGREE_EDGES = np.array([0, 1, 2, 3, 5, 9, 17, 33, 65, 129, 257])
"""Training-popularity bins of the moved-to item (ratings ``0, 1, 2, 3-4, ..., 257+``)."""


@dataclass
class Moves:
    """One account's transitions, one entry per query.

    Attributes:
        ranks: the moved-to item's rank in what the prefix is served (:data:`NO_TRANSITION`
            where the query has no transition), ``[n]``.
        contexts: prefix lengths (items before the moved-to item), ``[n]``.
        items: the moved-to items (the queries' last items), ``[n]``.
        list_lengths: the list length each query asked for (None: the detector's).
    """

    ranks: np.ndarray
    contexts: np.ndarray
    items: np.ndarray
    list_lengths: np.ndarray | None = None

    @classmethod
    def of(cls, queries: Sequence[Sequence[int]], ranks: np.ndarray) -> Moves:
        """The moves of ``queries`` given their transition ranks."""
        return cls(
            ranks=np.asarray(ranks, dtype=np.int64),
            contexts=np.array([len(q) - 1 for q in queries], dtype=np.int64),
            items=np.array([int(q[-1]) for q in queries], dtype=np.int64),
        )

    @property
    def moved(self) -> np.ndarray:
        """Bool ``[n]``: which queries are transitions."""
        return self.ranks != NO_TRANSITION

    def select(self, rows: np.ndarray) -> Moves:
        """The moves at ``rows``."""
        lengths = None if self.list_lengths is None else self.list_lengths[rows]
        return Moves(self.ranks[rows], self.contexts[rows], self.items[rows], lengths)


@torch.no_grad()
def transition_ranks(
    model: nn.Module,
    queries: Sequence[Sequence[int]],
    *,
    max_len: int,
    batch_size: int = 1024,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Rank of each query's last item in what ``model`` serves for the rest of the query, ``[n]``.

    The prefix is scored as an anonymous query (the most recent ``max_len`` items), its own items
    excluded, as the oracle serves it; the rank is 1 + the number of items scored strictly
    higher. :data:`NO_TRANSITION` where the query has one item or repeats a prefix item.
    """
    ranks = np.full(len(queries), NO_TRANSITION, dtype=np.int64)
    rows = [
        i for i, q in enumerate(queries) if len(q) >= 2 and int(q[-1]) not in set(map(int, q[:-1]))
    ]
    was_training = model.training
    model.eval()
    try:
        for lo in range(0, len(rows), batch_size):
            chunk = rows[lo : lo + batch_size]
            prefixes = [np.asarray(queries[i][:-1], dtype=np.int64) for i in chunk]
            nxt = torch.tensor([int(queries[i][-1]) for i in chunk], dtype=torch.long)
            batch = SequenceBatch(
                users=torch.full((len(chunk),), ANONYMOUS_USER, dtype=torch.long),
                items=pad_sequences(prefixes, max_len),  # [b, L]
            ).to(device)
            scores = model.full_sort_predict(batch).float().cpu()  # [b, I]
            seen_rows = torch.from_numpy(
                np.repeat(np.arange(len(chunk)), [len(p) for p in prefixes])
            )
            scores[seen_rows, torch.from_numpy(np.concatenate(prefixes))] = float("-inf")
            own = scores[torch.arange(len(chunk)), nxt]  # [b]
            ranks[chunk] = ((scores > own.unsqueeze(1)).sum(1) + 1).numpy()
    finally:
        model.train(was_training)
    return ranks


def rank_edges(num_items: int, list_length: int, inside: int = 12, outside: int = 6) -> np.ndarray:
    """Bin edges over ranks ``1..num_items``: geometric inside the list, and beyond it.

    Bin ``b`` holds ranks ``edges[b] <= r < edges[b + 1]``; ``list_length + 1`` is always an edge,
    so "inside the served list" is a union of bins.
    """
    if not 1 <= list_length <= num_items:
        raise ValueError(f"list_length must be in 1..{num_items}, got {list_length}")
    head = np.geomspace(1, list_length + 1, inside)
    tail = np.geomspace(list_length + 1, num_items + 1, outside) if list_length < num_items else []
    edges = np.unique(np.round(np.concatenate([head, tail])).astype(np.int64))
    return edges


class QueryStreamDetector:
    """Transition-likelihood detector over per-account query streams (see the module doc).

    Args:
        model: the recommender the service serves (ranks are taken under it).
        max_len: the input length the service reads (default 50).
        list_length: the length ``k`` of the lists the service serves (default 100).
        eps: share of off-list moves the list-following alternative allows (default 0.01).
        account_fpr: share of held-out benign accounts allowed over a threshold, split evenly
            between the two components (default 0.01).
        num_types: benign user types of the null family (default 10).
        item_popularity: training ratings per item, ``[num_items]`` (default None: the
            ``uniform`` component reads ranks only).
        batch_size: prefixes scored per forward pass (default 1024).
        device: where the model runs (default cpu).

    Attributes (after ``fit``):
        edges_: rank-bin edges; benign_: pooled benign rank-bin probabilities ``[X, B]`` (per
            prefix-length bucket); types_: the benign family ``[K, X, B]``;
        popularity_types_: each type's moved-to popularity-bin probabilities ``[K, D]``;
        thresholds_: ``[C]`` online thresholds on the running maxima;
        threshold_: 0 (``decision_function`` is the margin over the thresholds).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        max_len: int = 50,
        list_length: int = 100,
        eps: float = 0.01,
        account_fpr: float = 0.01,
        num_types: int = 10,
        item_popularity: np.ndarray | None = None,
        batch_size: int = 1024,
        device: torch.device | str = "cpu",
    ) -> None:
        num_items = int(getattr(model, "num_items", 0))
        if num_items < 2:
            raise ValueError("model must expose num_items >= 2")
        if not 0 < eps < 1:
            raise ValueError(f"eps must be in (0, 1), got {eps}")
        if not 0 < account_fpr < 1:
            raise ValueError(f"account_fpr must be in (0, 1), got {account_fpr}")
        if num_types < 1:
            raise ValueError(f"num_types must be >= 1, got {num_types}")
        if item_popularity is not None and len(item_popularity) != num_items:
            raise ValueError(f"item_popularity has {len(item_popularity)} items, not {num_items}")
        self.model = model
        self.num_items = num_items
        self.max_len = max_len
        self.list_length = min(list_length, num_items)
        self.eps = eps
        self.account_fpr = account_fpr
        self.num_types = num_types
        self.item_popularity = item_popularity
        self.batch_size = batch_size
        self.device = torch.device(device)

    # ------------------------------------------------------------------ fitting
    def fit(
        self, benign_query_streams: Streams, calibration_streams: Streams
    ) -> QueryStreamDetector:
        """Fit the benign family on training accounts and the thresholds on held-out ones."""
        per_account = self.moves_of(as_stream_list(benign_query_streams))
        moves = _concat(per_account)
        if not moves.moved.any():
            raise ValueError("the benign training streams hold no transition")
        self.edges_ = rank_edges(self.num_items, self.list_length)
        counts = self._rank_counts(moves)
        pooled = (counts.sum(0) + 0.5) / (counts.sum() + 0.5 * counts.shape[1])
        self.benign_ = _shrink(counts, pooled)  # [X, B]
        groups = [moves.select(rows) for rows in self._type_groups(per_account)]
        self.types_ = np.stack([_shrink(self._rank_counts(g), self.benign_) for g in groups])
        pooled_popularity = self._popularity_counts(moves) + 0.5
        pooled_popularity /= pooled_popularity.sum()
        self.popularity_types_ = np.stack(
            [_shrink(self._popularity_counts(g)[None], pooled_popularity)[0] for g in groups]
        )  # [K, D]
        self.transitions_ = int(moves.moved.sum())
        self.calibrate(calibration_streams)
        return self

    def calibrate(self, calibration_streams: Streams) -> QueryStreamDetector:
        """Online thresholds: conformal quantiles of held-out benign accounts' running maxima."""
        self._check_fitted("types_")
        peaks = self.running_peaks(as_stream_list(calibration_streams))
        if len(peaks) < 2:
            raise ValueError("calibration needs at least two benign accounts")
        share = self.account_fpr / len(COMPONENTS)
        self.thresholds_ = np.array(
            [conformal_quantile(peaks[:, c], share) for c in range(len(COMPONENTS))]
        )
        self.threshold_ = 0.0
        self.decision_score_ = self._margin(peaks)
        log.info(
            "stream detector: %d benign types from %d transitions; thresholds %s on %d accounts",
            len(self.types_),
            self.transitions_,
            dict(zip(COMPONENTS, np.round(self.thresholds_, 3).tolist(), strict=True)),
            len(peaks),
        )
        return self

    # ------------------------------------------------------------------ statistics
    def moves_of(self, streams: Sequence[Sequence[Sequence[int]]]) -> list[Moves]:
        """Each account's moves under the served model."""
        flat = [q for stream in streams for q in stream]
        ranks = transition_ranks(
            self.model, flat, max_len=self.max_len, batch_size=self.batch_size, device=self.device
        )
        bounds = np.concatenate([[0], np.cumsum([len(s) for s in streams])]).astype(int)
        return [
            Moves.of(flat[bounds[a] : bounds[a + 1]], ranks[bounds[a] : bounds[a + 1]])
            for a in range(len(streams))
        ]

    def transition_llrs(self, moves: Moves) -> np.ndarray:
        """Per-move log-likelihood ratios against each benign type, ``[n, C, K]`` (0 where
        there is no transition)."""
        self._check_fitted("types_")
        out = np.zeros((len(moves.ranks), len(COMPONENTS), len(self.types_)))
        moved = moves.moved
        if not moved.any():
            return out
        bins = self._bins(moves.ranks[moved])
        context = self._contexts(moves.contexts[moved])
        p = self.types_[:, context, bins]  # [K, m]
        inside = self._inside(self.list_length)[bins]  # [m]
        if moves.list_lengths is not None:
            for k in np.unique(moves.list_lengths[moved]):
                mine = moves.list_lengths[moved] == k
                inside[mine] = self._inside(int(k))[bins[mine]]
        q_list = (1 - self.eps) * inside + self.eps * p  # [K, m]
        uniform = np.log(self._widths()[bins] / self.num_items / p)  # [K, m]
        if self.item_popularity is not None:
            degree = self._degree_bins(moves.items[moved])
            catalogue = self._catalogue_popularity()[degree]  # [m]
            uniform = uniform + np.log(catalogue / self.popularity_types_[:, degree])
        out[moved] = np.stack([np.log(q_list / p), uniform]).transpose(2, 0, 1)  # [m, C, K]
        return out

    def account_statistics(self, streams: Streams) -> np.ndarray:
        """The statistics a threshold is put on: :meth:`running_peaks`, ``[N, C]``.

        The running maximum, not the final sum: a benign account's ratios drift down with every
        move, so a final sum would depend on how many moves the account made (an aggregator of
        users early in their histories makes fewer), while the maximum does not.
        """
        return self.running_peaks(as_stream_list(streams))

    def running_peaks(self, streams: Sequence[Sequence[Sequence[int]]]) -> np.ndarray:
        """Each account's running maximum of every component ``S_c`` over its stream, ``[N, C]``."""
        per_account = self.moves_of(streams)
        peaks = np.zeros((len(per_account), len(COMPONENTS)))
        for a, moves in enumerate(per_account):
            if len(moves.ranks):
                best_type = np.cumsum(self.transition_llrs(moves), axis=0).min(2)  # [n, C]
                peaks[a] = np.maximum(best_type.max(0), 0.0)
        return peaks

    def decision_function(self, streams: Streams) -> np.ndarray:
        """Margin of each account's running maxima over the thresholds (> 0: flagged), ``[N]``."""
        self._check_fitted("thresholds_")
        return self._margin(self.running_peaks(as_stream_list(streams)))

    def predict(self, streams: Streams) -> np.ndarray:
        """1 for accounts the online rule flagged at some point of their stream, else 0, ``[N]``."""
        return (self.decision_function(streams) > self.threshold_).astype(np.int64)

    # ------------------------------------------------------------------ internals
    def _rank_counts(self, moves: Moves) -> np.ndarray:
        """Transitions per prefix-length bucket and rank bin, ``[X, B]``."""
        moved = moves.moved
        counts = np.zeros((len(CONTEXT_EDGES), len(self.edges_) - 1))
        key = (self._contexts(moves.contexts[moved]), self._bins(moves.ranks[moved]))
        np.add.at(counts, key, 1.0)
        return counts

    def _popularity_counts(self, moves: Moves) -> np.ndarray:
        """Transitions per popularity bin of the moved-to item, ``[D]`` (zeros without it)."""
        if self.item_popularity is None:
            return np.zeros(len(DEGREE_EDGES))
        degree = self._degree_bins(moves.items[moves.moved])
        return np.bincount(degree, minlength=len(DEGREE_EDGES)).astype(np.float64)

    def _type_groups(self, per_account: list[Moves]) -> list[np.ndarray]:
        """Indices (into the concatenated moves) of each benign type's accounts.

        Accounts with transitions are ordered by their mean log rank (predictable first) and cut
        into ``num_types`` groups of equal size.
        """
        starts = np.concatenate([[0], np.cumsum([len(m.ranks) for m in per_account])])
        spread = [
            (np.log(m.ranks[m.moved]).mean(), a) for a, m in enumerate(per_account) if m.moved.any()
        ]
        order = [a for _, a in sorted(spread)]
        groups = np.array_split(np.asarray(order), min(self.num_types, len(order)))
        return [
            np.concatenate([np.arange(starts[a], starts[a + 1]) for a in group]) for group in groups
        ]

    def _bins(self, ranks: np.ndarray) -> np.ndarray:
        clipped = np.clip(ranks, 1, self.num_items)
        return np.searchsorted(self.edges_, clipped, side="right") - 1

    def _degree_bins(self, items: np.ndarray) -> np.ndarray:
        return np.searchsorted(DEGREE_EDGES, self.item_popularity[items], side="right") - 1

    def _catalogue_popularity(self) -> np.ndarray:
        """The popularity-bin spread of the catalogue (of a uniformly random item), ``[D]``."""
        all_items = self._degree_bins(np.arange(self.num_items))
        counts = np.bincount(all_items, minlength=len(DEGREE_EDGES)) + 0.5
        return counts / counts.sum()

    @staticmethod
    def _contexts(lengths: np.ndarray) -> np.ndarray:
        return np.searchsorted(CONTEXT_EDGES, np.maximum(lengths, 1), side="right") - 1

    def _widths(self) -> np.ndarray:
        return np.diff(self.edges_).astype(np.float64)

    def _inside(self, k: int) -> np.ndarray:
        """Share of a uniform pick over ranks ``1..k`` falling in each rank bin, ``[B]``."""
        return np.clip(np.minimum(self.edges_[1:], k + 1) - self.edges_[:-1], 0, None) / k

    def _margin(self, peaks: np.ndarray) -> np.ndarray:
        return (peaks - self.thresholds_).max(axis=1)

    def _check_fitted(self, attribute: str) -> None:
        if not hasattr(self, attribute):
            raise GraphrecError("QueryStreamDetector is not fitted: call fit(benign, calibration)")

    def __repr__(self) -> str:
        fitted = (
            f", thresholds_={np.round(self.thresholds_, 3).tolist()}"
            if hasattr(self, "thresholds_")
            else ""
        )
        return (
            f"{self.__class__.__name__}(num_items={self.num_items}, "
            f"list_length={self.list_length}, eps={self.eps}, types={self.num_types}{fitted})"
        )


def _concat(per_account: list[Moves]) -> Moves:
    """All accounts' moves as one."""
    if not per_account:
        empty = np.zeros(0, dtype=np.int64)
        return Moves(empty, empty, empty)
    return Moves(
        np.concatenate([m.ranks for m in per_account]),
        np.concatenate([m.contexts for m in per_account]),
        np.concatenate([m.items for m in per_account]),
    )


def _shrink(counts: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Per-row distributions from ``counts`` (``[X, B]``), each with ``CONTEXT_PRIOR``
    pseudo-moves of ``prior`` (``[B]`` or ``[X, B]``): sparse rows lean on it."""
    shrunk = counts + CONTEXT_PRIOR * prior
    return shrunk / shrunk.sum(1, keepdims=True)
