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

Per account, two cumulative log-likelihood ratios over its transitions' binned ranks
(:meth:`QueryStreamDetector.transition_llrs`), against ``p``, the benign rank distribution
fitted on training users' transitions, per prefix length (:data:`CONTEXT_EDGES`: a benign user
early in its history, or many users early in theirs behind one account, is compared with benign
moves made after as few items):

* ``list``:  ``log q_list(b) / p(b)``, ``q_list = (1 - eps) * uniform over ranks 1..k + eps * p``
  (any list-following attacker, whatever it samples inside the list, scores high: a real user
  leaves the list about a third of the time, and each such transition costs ``log eps``);
* ``uniform``: ``log q_uniform(b) / p(b)``, ``q_uniform`` uniform over the catalogue.

Each is Wald's sequential probability ratio: it drifts down under benign traffic and up under
the matching attack, so a CONSTANT threshold bounds false alarms over a whole stream. The online
rule (:meth:`QueryStreamDetector.fit`) flags an account while a component is above its threshold
``thresholds_`` (the conformal quantile, over held-out benign accounts, of the component's running
maximum): a benign user whose first transitions look list-following drifts back below as the
stream goes on. Nothing here depends on the number of queries an account sends, only on how its
items move; aggregated benign users (a household, a proxy) move like benign users.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

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
        batch_size: prefixes scored per forward pass (default 1024).
        device: where the model runs (default cpu).

    Attributes (after ``fit``):
        edges_: rank-bin edges; benign_: benign bin probabilities ``p``, ``[X, B]`` (per
        prefix-length bucket); log_ratios_: ``[C, X, B]`` log-likelihood ratios of the components;
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
        self.model = model
        self.num_items = num_items
        self.max_len = max_len
        self.list_length = min(list_length, num_items)
        self.eps = eps
        self.account_fpr = account_fpr
        self.batch_size = batch_size
        self.device = torch.device(device)

    # ------------------------------------------------------------------ fitting
    def fit(
        self, benign_query_streams: Streams, calibration_streams: Streams
    ) -> QueryStreamDetector:
        """Fit ``p`` on benign training accounts and the online thresholds on held-out ones."""
        moves = self.transitions_of(as_stream_list(benign_query_streams))
        ranks = np.concatenate([r for r, _ in moves]) if moves else np.zeros(0, dtype=np.int64)
        contexts = np.concatenate([c for _, c in moves]) if moves else np.zeros(0, dtype=np.int64)
        moved = ranks != NO_TRANSITION
        if not moved.any():
            raise ValueError("the benign training streams hold no transition")
        self.edges_ = rank_edges(self.num_items, self.list_length)
        num_bins = len(self.edges_) - 1
        counts = np.zeros((len(CONTEXT_EDGES), num_bins))
        np.add.at(counts, (self._contexts(contexts[moved]), self._bins(ranks[moved])), 1.0)
        pooled = (counts.sum(0) + 0.5) / (counts.sum() + 0.5 * num_bins)  # [B]
        shrunk = counts + CONTEXT_PRIOR * pooled  # [X, B], sparse contexts lean on the pool
        self.benign_ = shrunk / shrunk.sum(1, keepdims=True)  # [X, B]
        self.log_ratios_ = np.stack(
            [
                np.log(self._list_alternative(self.list_length) / self.benign_),
                np.log(self._widths() / self.num_items / self.benign_),
            ]
        )  # [C, X, B]
        self.transitions_ = int(moved.sum())
        self.calibrate(calibration_streams)
        return self

    def calibrate(self, calibration_streams: Streams) -> QueryStreamDetector:
        """Online thresholds: conformal quantiles of held-out benign accounts' running maxima."""
        self._check_fitted("log_ratios_")
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
            "stream detector: p fitted on %d transitions; thresholds %s on %d accounts",
            self.transitions_,
            dict(zip(COMPONENTS, np.round(self.thresholds_, 3).tolist(), strict=True)),
            len(peaks),
        )
        return self

    # ------------------------------------------------------------------ statistics
    def transitions_of(
        self, streams: Sequence[Sequence[Sequence[int]]]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per account, its queries' transition ranks and context lengths (prefix items)."""
        flat = [q for stream in streams for q in stream]
        ranks = transition_ranks(
            self.model, flat, max_len=self.max_len, batch_size=self.batch_size, device=self.device
        )
        contexts = np.array([len(q) - 1 for q in flat], dtype=np.int64)
        bounds = np.concatenate([[0], np.cumsum([len(s) for s in streams])]).astype(int)
        return [
            (ranks[bounds[a] : bounds[a + 1]], contexts[bounds[a] : bounds[a + 1]])
            for a in range(len(streams))
        ]

    def transition_llrs(
        self,
        ranks: np.ndarray,
        contexts: np.ndarray,
        list_lengths: np.ndarray | None = None,
    ) -> np.ndarray:
        """Per-transition log-likelihood ratios ``[n, C]`` (0 where there is no transition).

        Args:
            ranks: transition ranks ``[n]``.
            contexts: prefix lengths ``[n]`` (items before the moved-to item).
            list_lengths: the list length each query asked for (default ``list_length``).
        """
        self._check_fitted("log_ratios_")
        ranks = np.asarray(ranks, dtype=np.int64)
        out = np.zeros((len(ranks), len(COMPONENTS)))
        moved = ranks != NO_TRANSITION
        if not moved.any():
            return out
        bins = self._bins(ranks[moved])
        context = self._contexts(np.asarray(contexts)[moved])
        out[moved] = self.log_ratios_[:, context, bins].T
        if list_lengths is not None:
            lengths = np.asarray(list_lengths)[moved]
            for k in np.unique(lengths[lengths != self.list_length]):
                mine = lengths == k
                ratios = np.log(self._list_alternative(int(k)) / self.benign_)  # [X, B]
                out[np.flatnonzero(moved)[mine], 0] = ratios[context[mine], bins[mine]]
        return out

    def account_statistics(self, streams: Streams) -> np.ndarray:
        """The statistics a threshold is put on: :meth:`running_peaks`, ``[N, C]``.

        The running maximum, not the final sum: a benign account's ratios drift down with every
        move, so a final sum would depend on how many moves the account made (an aggregator of
        users early in their histories makes fewer), while the maximum does not.
        """
        return self.running_peaks(as_stream_list(streams))

    def running_peaks(self, streams: Sequence[Sequence[Sequence[int]]]) -> np.ndarray:
        """Each account's running maximum of every cumulative ratio over its stream, ``[N, C]``."""
        moves = self.transitions_of(streams)
        peaks = np.zeros((len(moves), len(COMPONENTS)))
        for a, (r, c) in enumerate(moves):
            if len(r):
                peaks[a] = np.maximum(np.cumsum(self.transition_llrs(r, c), axis=0).max(0), 0.0)
        return peaks

    def decision_function(self, streams: Streams) -> np.ndarray:
        """Margin of each account's running maxima over the thresholds (> 0: flagged), ``[N]``."""
        self._check_fitted("thresholds_")
        return self._margin(self.running_peaks(as_stream_list(streams)))

    def predict(self, streams: Streams) -> np.ndarray:
        """1 for accounts the online rule flagged at some point of their stream, else 0, ``[N]``."""
        return (self.decision_function(streams) > self.threshold_).astype(np.int64)

    # ------------------------------------------------------------------ internals
    def _bins(self, ranks: np.ndarray) -> np.ndarray:
        clipped = np.clip(ranks, 1, self.num_items)
        return np.searchsorted(self.edges_, clipped, side="right") - 1

    @staticmethod
    def _contexts(lengths: np.ndarray) -> np.ndarray:
        return np.searchsorted(CONTEXT_EDGES, np.maximum(lengths, 1), side="right") - 1

    def _widths(self) -> np.ndarray:
        return np.diff(self.edges_).astype(np.float64)

    def _list_alternative(self, k: int) -> np.ndarray:
        """``q_list`` for lists of ``k`` items, ``[X, B]``: uniform over ranks ``1..k``, plus
        ``eps * p``."""
        inside = np.clip(np.minimum(self.edges_[1:], k + 1) - self.edges_[:-1], 0, None)
        return (1 - self.eps) * inside / k + self.eps * self.benign_

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
            f"list_length={self.list_length}, eps={self.eps}{fitted})"
        )
