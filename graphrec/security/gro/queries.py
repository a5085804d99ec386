"""The queries GRO defends and the lists the oracle would serve for them.

Attackers query anonymous prefixes of every length (Yue et al.'s autoregressive queries), so GRO
turns each training sequence into anonymous prefix queries and takes the target's top-k lists as
the :class:`~graphrec.security.oracle.Oracle` serves them (query items excluded).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from graphrec.data.split import PAD
from graphrec.models.batch import SequenceBatch
from graphrec.models.recommender import top_k_items
from graphrec.security.oracle import ANONYMOUS_USER
from graphrec.security.ranking_loss import sample_outside


# ---------------------------------------------------------------------------- queries
def query_batch(
    batch: SequenceBatch,
    *,
    random_prefix: bool = True,
    repeats: int = 1,
    generator: torch.Generator | None = None,
) -> SequenceBatch:
    """The training sequences as anonymous oracle queries, optionally cut to random prefixes.

    Extraction attacks query prefixes of every length (Yue et al.'s autoregressive queries grow a
    sequence one item at a time), so defending only full histories would leave most of what an
    attacker sees untouched. Row ``b`` with ``n`` items becomes its first ``t`` items,
    ``t ~ U{1..n}``, left-padded again.

    Args:
        batch: left-padded training inputs ``[B, L]``.
        random_prefix: cut each row to a random prefix (default True); else keep it whole.
        repeats: queries per sequence (each with its own prefix length; default 1).
        generator: RNG for the prefix lengths.

    Shapes:
        output: users ``[B * repeats]`` (all -1), items ``[B * repeats, L]``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    items = batch.items.repeat(repeats, 1)  # [R, L]
    rows, length = items.shape
    if random_prefix:
        n = (items != PAD).sum(1)  # [R]
        draw = torch.rand(rows, generator=generator).to(items.device)  # [R]
        t = (draw * n).long().clamp(max=n - 1) + 1  # [R] in 1..n
        shift = (n - t).unsqueeze(1)  # [R, 1] positions to move right
        cols = torch.arange(length, device=items.device).unsqueeze(0) - shift  # [R, L]
        items = torch.where(
            cols >= 0, items.gather(1, cols.clamp(min=0)), torch.full_like(items, PAD)
        )  # [R, L]
    users = torch.full((rows,), ANONYMOUS_USER, dtype=torch.long, device=items.device)
    return SequenceBatch(users=users, items=items)


def query_item_mask(batch: SequenceBatch, num_items: int) -> Tensor:
    """Bool ``[B, I]``: True at the items each query holds (the oracle never serves them)."""
    mask = torch.zeros(len(batch), num_items + 1, dtype=torch.bool, device=batch.items.device)
    mask.scatter_(1, batch.items, True)  # [B, I+1], column 0 = PAD
    return mask[:, 1:]


def query_item_ids(batch: SequenceBatch) -> Tensor:
    """The item ids of each query, -1 where the row is padding, ``[B, L]``."""
    return torch.where(batch.items != PAD, batch.items - 1, torch.full_like(batch.items, -1))


def sample_negatives(
    topk: Tensor,
    queries: SequenceBatch,
    num_items: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One uniform item per rank outside the list and outside the query, ``[B, k]``.

    The extraction attack draws its negatives the same way (the oracle never lists a query item,
    so such an item says nothing about the ranking).
    """
    excluded = torch.cat([topk, query_item_ids(queries)], dim=1)  # [B, k + L]
    return sample_outside(excluded, num_items, topk.shape[1], generator=generator)


@dataclass
class ServedLists:
    """What the oracle would serve for a batch's anonymous queries.

    Attributes:
        queries: the anonymous prefix queries ``[Q, L]``.
        blocked: bool ``[Q, I]``, the items of each query (never served).
        scores: the target's scores ``[Q, I]`` (eval mode; with grad unless under no_grad).
        topk: the served lists ``[Q, k]``.
        negatives: one unlisted item per rank ``[Q, k]`` for the student's loss.
    """

    queries: SequenceBatch
    blocked: Tensor
    scores: Tensor
    topk: Tensor
    negatives: Tensor


def serve_queries(
    target: nn.Module,
    batch: SequenceBatch,
    *,
    k: int,
    random_prefix: bool,
    repeats: int,
    generator: torch.Generator,
) -> ServedLists:
    """The batch as anonymous queries and the target's top-k lists, as the oracle serves them.

    The target scores in eval mode (no dropout, as the oracle answers) and is returned to the
    mode it was in. Draws the prefixes and the negatives from ``generator``.
    """
    num_items = target.num_items
    queries = query_batch(
        batch,
        random_prefix=random_prefix,
        repeats=repeats,
        generator=generator,
    )
    blocked = query_item_mask(queries, num_items)  # [Q, I]
    was_training = target.training
    target.eval()
    try:
        scores = target.full_sort_predict(queries)  # [Q, I]
    finally:
        target.train(was_training)
    topk = top_k_items(scores.detach(), min(k, num_items), exclude=blocked)  # [Q, k]
    negatives = sample_negatives(topk, queries, num_items, generator)  # [Q, k]
    return ServedLists(queries, blocked, scores, topk, negatives)
