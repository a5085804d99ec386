"""Full-ranking evaluation: Hit@K, NDCG@K, MRR@K over ALL items, plus beyond-accuracy metrics.

No sampled metrics (SPEC §3, §7): every evaluated user's held-out item is ranked against the
whole catalogue, with the user's seen items masked. Scoring is one matrix product per user batch
(the model's ``full_sort_predict``); ranks come from one comparison against the target's score,
never a Python loop over items.

Tie handling: the rank of the target is 1 + the number of items scored strictly higher + the
number of items scored exactly equal with a smaller item id, i.e. the rank under a deterministic
tie-break by item id. Without ties this is the plain "1 + strictly higher" rank; with ties a
degenerate model (constant scores) cannot earn hits by ties resolving in its favour. A target
scored -inf (masked, e.g. re-watching a seen item) or NaN is never a hit.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from graphrec.data.split import Split
from graphrec.eval.sequences import EvalSequences, Stage, eval_sequences

log = logging.getLogger(__name__)

BEYOND_K = 10
"""Cut-off of genre consistency, popularity percentile and coverage ("top-10")."""


def target_ranks(scores: Tensor, targets: Tensor) -> Tensor:
    """1-based rank of each row's target among all items (ties broken by item id; see module doc).

    Shapes:
        input: scores ``[B, I]``, targets ``[B]`` (item ids).
        output: ``[B]`` float, ``inf`` where the target is masked (-inf) or NaN.
    """
    if scores.dim() != 2 or targets.shape != (scores.shape[0],):
        raise ValueError(
            f"scores must be [B, I] and targets [B], got {tuple(scores.shape)}, "
            f"{tuple(targets.shape)}"
        )
    target_score = scores.gather(1, targets.unsqueeze(1))  # [B, 1]
    item_ids = torch.arange(scores.shape[1], device=scores.device).unsqueeze(0)  # [1, I]
    tied_before = (scores == target_score) & (item_ids < targets.unsqueeze(1))  # [B, I]
    ahead = (scores > target_score) | tied_before  # [B, I]
    ranks = (1 + ahead.sum(dim=1)).double()  # [B]
    dead = torch.isnan(target_score.squeeze(1)) | (target_score.squeeze(1) == float("-inf"))
    return ranks.masked_fill(dead, math.inf)  # [B]


def ranking_metrics(scores: Tensor, targets: Tensor, ks: Sequence[int]) -> dict[str, Tensor]:
    """Per-row Hit@K, NDCG@K and MRR@K of the target's rank (SPEC §7).

    Hit@K = [rank <= K]; NDCG@K = 1 / log2(rank + 1) if rank <= K else 0 (one relevant item, so
    the ideal DCG is 1); MRR@K = 1 / rank if rank <= K else 0. Mask seen items (set them to -inf)
    before calling.

    Args:
        scores: ``[B, I]`` item scores.
        targets: ``[B]`` held-out item ids.
        ks: cut-offs, e.g. ``(5, 10, 20)``.

    Returns:
        ``{"hit@K", "ndcg@K", "mrr@K"}`` for every K, each a float tensor ``[B]``.
    """
    if not ks or any(k < 1 for k in ks):
        raise ValueError(f"ks must be positive cut-offs, got {list(ks)}")
    ranks = target_ranks(scores, targets)  # [B]
    out: dict[str, Tensor] = {}
    for k in ks:
        hit = ranks <= k  # [B]
        out[f"hit@{k}"] = hit.float()
        out[f"ndcg@{k}"] = torch.where(hit, 1.0 / torch.log2(ranks + 1.0), 0.0).float()
        out[f"mrr@{k}"] = torch.where(hit, 1.0 / ranks, 0.0).float()
    return out


@dataclass
class Evaluation:
    """The outcome of one evaluation.

    Attributes:
        metrics: means over users (``hit@K``, ``ndcg@K``, ``mrr@K``, ``genre_jaccard@10`` where the
            catalogue has genres, ``popularity_percentile@10`` in 0..100, ``coverage@10``) and
            ``num_users``.
        users: evaluated user ids, ``[N]``.
        targets: their held-out items, ``[N]``.
        top_items: each user's recommended item ids, best first, ``[N, top_n]``; seen items are
            excluded, -1 fills the tail when a user has fewer unseen items: what to save as
            rankings.
        per_user: the per-user values of the accuracy metrics, each ``[N]``.
    """

    metrics: dict[str, float]
    users: np.ndarray
    targets: np.ndarray
    top_items: np.ndarray
    per_user: dict[str, np.ndarray]


def popularity_percentiles(counts: np.ndarray) -> np.ndarray:
    """Each item's popularity percentile (0 = least, 100 = most popular; ties share the mean rank).

    Shapes:
        input: train event counts ``[I]``; output: ``[I]`` float.
    """
    if len(counts) < 2:
        return np.full(len(counts), 100.0)
    ordered = np.sort(counts)
    lower = np.searchsorted(ordered, counts, side="left")
    upper = np.searchsorted(ordered, counts, side="right")
    return 100.0 * ((lower + upper - 1) / 2.0) / (len(counts) - 1)


def genre_matrix(genres: Sequence[tuple[str, ...]]) -> Tensor:
    """Multi-hot genre matrix ``[I, G]`` (G = distinct genres; 0 columns when there are none)."""
    names = sorted({g for item_genres in genres for g in item_genres})
    column = {g: j for j, g in enumerate(names)}
    rows = [row for row, item_genres in enumerate(genres) for _ in item_genres]
    cols = [column[g] for item_genres in genres for g in item_genres]
    matrix = np.zeros((len(genres), len(names)), dtype=np.float32)
    matrix[rows, cols] = 1.0
    return torch.from_numpy(matrix)


class Shard(Protocol):
    """This process's share of the evaluated users, and how every share is collected.

    Multi-process training passes one (:class:`graphrec.train.distributed.Distributed`), so each
    process ranks a disjoint slice of the users and all of them get the one merged result.
    """

    def rows(self, n: int) -> slice:
        """This process's contiguous slice of ``n`` rows (the slices partition ``0..n-1``)."""
        ...

    def gather(self, value: Any) -> list[Any]:
        """``value`` from every process, in rank order (the same list on every process)."""
        ...


def evaluate_detailed(
    model: nn.Module,
    split: Split,
    stage: Stage,
    *,
    ks: Sequence[int] = (5, 10, 20),
    batch_size: int = 1024,
    max_len: int = 50,
    device: torch.device | str = "cpu",
    top_n: int | None = None,
    shard: Shard | None = None,
) -> Evaluation:
    """Full-ranking evaluation of ``model`` on the users with a ``stage`` event.

    Args:
        model: any recommender with ``full_sort_predict(batch) -> [B, num_items]``, already on
            ``device``; it is put in eval mode for the call and its mode restored afterwards.
        split: the leave-one-out split (train counts give popularity; item genres come from it).
        stage: ``"valid"`` (input = train history) or ``"test"`` (input = train + valid item).
        ks: accuracy cut-offs (default 5, 10, 20).
        batch_size: users scored per matrix product (default 1024).
        max_len: input sequence length (default 50).
        device: where batches are scored (default cpu).
        top_n: length of the saved ranking per user (default max(ks) and at least 10).
        shard: score only this process's users and merge every process's per-user results
            before averaging (default None: one process scores all). The merged per-user values
            are in user order, so the result equals a one-process evaluation up to the float
            rounding of differently sized score batches.

    Returns:
        An :class:`Evaluation`.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not ks or any(k < 1 for k in ks):
        raise ValueError(f"ks must be positive cut-offs, got {list(ks)}")
    start_time = time.perf_counter()
    num_items = split.num_items
    data = eval_sequences(split, stage, max_len)
    n = len(data)
    top_n = min(num_items, top_n or max(max(ks), BEYOND_K))
    beyond_k = min(BEYOND_K, top_n)
    rows = shard.rows(n) if shard is not None else slice(0, n)
    scored = _score_rows(model, split, data, rows, ks, batch_size, top_n, beyond_k, device)
    if shard is not None:
        scored = _Scored.concat(shard.gather(scored))

    metrics = {name: float(v.mean()) if n else math.nan for name, v in scored.per_user.items()}
    if scored.has_genres:
        known = scored.jaccard[~torch.isnan(scored.jaccard)]
        metrics[f"genre_jaccard@{beyond_k}"] = float(known.mean()) if len(known) else math.nan
    metrics[f"popularity_percentile@{beyond_k}"] = float(scored.pop.mean()) if n else math.nan
    listed_items = scored.top_items[:, :beyond_k]
    distinct = torch.unique(listed_items[listed_items >= 0]).numel()
    metrics[f"coverage@{beyond_k}"] = distinct / num_items
    metrics["num_users"] = float(n)
    log.debug("evaluated %d %s users in %.2fs", n, stage, time.perf_counter() - start_time)
    return Evaluation(
        metrics=metrics,
        users=data.batch.users.numpy(),
        targets=data.targets.numpy(),
        top_items=scored.top_items.numpy(),
        per_user=scored.per_user,
    )


@dataclass
class _Scored:
    """Per-user results of a run of evaluated users, before averaging (what shards exchange)."""

    per_user: dict[str, np.ndarray]  # each [n]
    top_items: Tensor  # [n, top_n]
    jaccard: Tensor  # [n], NaN where undefined
    pop: Tensor  # [n]
    has_genres: bool

    @classmethod
    def concat(cls, parts: Sequence[_Scored]) -> _Scored:
        """The parts one after another (an empty part may lack the metric names)."""
        names = dict.fromkeys(name for part in parts for name in part.per_user)
        empty = np.zeros(0, dtype=np.float32)
        return cls(
            per_user={
                name: np.concatenate([part.per_user.get(name, empty) for part in parts])
                for name in names
            },
            top_items=torch.cat([part.top_items for part in parts]),
            jaccard=torch.cat([part.jaccard for part in parts]),
            pop=torch.cat([part.pop for part in parts]),
            has_genres=parts[0].has_genres,
        )


def _score_rows(
    model: nn.Module,
    split: Split,
    data: EvalSequences,
    rows: slice,
    ks: Sequence[int],
    batch_size: int,
    top_n: int,
    beyond_k: int,
    device: torch.device | str,
) -> _Scored:
    """Rank the whole catalogue for ``data``'s rows ``rows``, one user batch at a time."""
    num_items = split.num_items
    counts = np.bincount(split.train["item"].to_numpy(np.int64), minlength=num_items)
    popularity = torch.from_numpy(popularity_percentiles(counts)).float().to(device)  # [I]
    genres = genre_matrix(list(split.ratings.items["genres"])).to(device)  # [I, G]
    has_genres = genres.shape[1] > 0
    first, n = rows.start, rows.stop - rows.start

    per_user: dict[str, list[Tensor]] = {}
    top_items = torch.zeros(n, top_n, dtype=torch.long)
    jaccard = torch.full((n,), math.nan)
    pop = torch.zeros(n)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for lo in range(rows.start, rows.stop, batch_size):
                hi = min(rows.stop, lo + batch_size)
                out = slice(lo - first, hi - first)  # the same rows in this shard's arrays
                batch = data.batch.select(slice(lo, hi)).to(device)
                targets = data.targets[lo:hi].to(device)  # [b]
                seen_rows, cols = (t.to(device) for t in data.seen_pairs(lo, hi))  # [nnz] each
                seen = torch.zeros(hi - lo, num_items, dtype=torch.bool, device=device)  # [b, I]
                seen[seen_rows, cols] = True
                scores = model.full_sort_predict(batch).float()  # [b, I]
                scores = scores.masked_fill(seen, float("-inf"))  # [b, I]
                for name, values in ranking_metrics(scores, targets, ks).items():
                    per_user.setdefault(name, []).append(values.cpu())
                best = scores.topk(top_n, dim=1)
                top = best.indices.masked_fill(best.values == float("-inf"), -1)  # [b, top_n]
                top_items[out] = top.cpu()
                head = top[:, :beyond_k]  # [b, 10], -1 = no unseen item left
                listed = (head >= 0).float()  # [b, 10]
                pop[out] = (
                    (popularity[head.clamp(min=0)] * listed).sum(1) / listed.sum(1).clamp(min=1)
                ).cpu()
                if has_genres:
                    history = torch.zeros(hi - lo, genres.shape[1], device=device)  # [b, G]
                    history.index_add_(0, seen_rows, genres[cols])
                    jaccard[out] = _genre_jaccard(history > 0, head, genres).cpu()
    finally:
        model.train(was_training)
    return _Scored(
        per_user={name: torch.cat(parts).numpy() for name, parts in per_user.items()},
        top_items=top_items,
        jaccard=jaccard,
        pop=pop,
        has_genres=has_genres,
    )


def evaluate(
    model: nn.Module,
    split: Split,
    stage: Stage,
    *,
    ks: Sequence[int] = (5, 10, 20),
    batch_size: int = 1024,
    max_len: int = 50,
    device: torch.device | str = "cpu",
    shard: Shard | None = None,
) -> dict[str, float]:
    """The mean metrics of :func:`evaluate_detailed` (same arguments)."""
    return evaluate_detailed(
        model,
        split,
        stage,
        ks=ks,
        batch_size=batch_size,
        max_len=max_len,
        device=device,
        shard=shard,
    ).metrics


def _genre_jaccard(history: Tensor, top: Tensor, genres: Tensor) -> Tensor:
    """Jaccard of the genre sets of the history and of the top items; NaN when both are empty.

    Shapes:
        input: history genres ``[b, G]`` bool, top ``[b, k]`` item ids (-1 = none), genres
            ``[I, G]``.
        output: ``[b]``.
    """
    listed = (top >= 0).unsqueeze(-1)  # [b, k, 1]
    recommended = (genres[top.clamp(min=0)] * listed).amax(dim=1) > 0  # [b, G]
    inter = (history & recommended).sum(dim=1).float()  # [b]
    union = (history | recommended).sum(dim=1).float()  # [b]
    return torch.where(union > 0, inter / union.clamp(min=1), math.nan)  # [b]
