"""Utility on what is served: the accuracy of the lists an oracle returns for real histories.

A defense changes the lists the service serves, so its utility must be measured on those lists:
each held-out user's history (before the ``valid`` or ``test`` item, time order) is sent to the
oracle as an anonymous query, exactly as the recommendation service receives it, and the
held-out item is looked up in the returned top-10. The user-fused NDCG of
:func:`graphrec.eval.ranking.evaluate` scores a different output (the model with the user's own
embedding added), which a defense acting on anonymous queries may leave intact while degrading
what is served.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from graphrec.data.split import Split
from graphrec.eval.sequences import Stage, eval_sequences
from graphrec.security.oracle import Oracle

SERVED_K = 10
"""Cut-off of the served-list metrics."""


def list_metrics(lists: Sequence[Sequence[int]], targets: Sequence[int]) -> dict[str, float]:
    """Hit@10 and NDCG@10 of held-out ``targets`` in served ``lists`` (one relevant item each).

    Returns:
        ``hit@10``, ``ndcg@10`` (means over rows; NaN when there are none) and ``num_users``.
    """
    if len(lists) != len(targets):
        raise ValueError(f"{len(lists)} lists for {len(targets)} targets")
    gains = []
    for listed, target in zip(lists, targets, strict=True):
        head = list(listed[:SERVED_K])
        gains.append(1.0 / math.log2(head.index(int(target)) + 2) if target in head else 0.0)
    gains_array = np.asarray(gains, dtype=np.float64)
    return {
        "hit@10": float((gains_array > 0).mean()) if len(gains) else math.nan,
        "ndcg@10": float(gains_array.mean()) if len(gains) else math.nan,
        "num_users": float(len(gains)),
    }


def held_out_queries(
    split: Split, stage: Stage, users: Sequence[int] | None = None
) -> tuple[np.ndarray, list[tuple[int, ...]], np.ndarray]:
    """Each evaluated user's whole history before the ``stage`` item, as an oracle query.

    Args:
        split: the leave-one-out split.
        stage: ``"valid"`` or ``"test"``.
        users: keep only these users (default: every user with a ``stage`` item).

    Returns:
        ``(users [N], queries, targets [N])`` in user-id order.
    """
    data = eval_sequences(split, stage, max_len=1)  # the seen items are the whole history
    all_users = data.batch.users.numpy()
    keep = np.ones(len(all_users), dtype=bool) if users is None else np.isin(all_users, users)
    rows = np.flatnonzero(keep)
    queries = [tuple(int(i) for i in data.seen(row)) for row in rows]
    return all_users[rows], queries, data.targets.numpy()[rows]


def served_metrics(
    oracle: Oracle,
    split: Split,
    stage: Stage,
    *,
    users: Sequence[int] | None = None,
    account: str = "evaluation",
) -> dict[str, float]:
    """Hit@10 / NDCG@10 of the lists ``oracle`` serves for held-out users' histories.

    Args:
        oracle: the service (an :class:`~graphrec.security.oracle.Oracle` or a gated one).
        split: the split whose ``stage`` items are ranked.
        stage: ``"valid"`` (for choices) or ``"test"`` (for reports).
        users: only these users (default all evaluated users).
        account: the account the evaluation queries come from (counted apart).
    """
    _, queries, targets = held_out_queries(split, stage, users)
    k = min(SERVED_K, oracle.max_k)
    lists = oracle.recommend_batch(queries, k, account=account) if queries else []
    return list_metrics(lists, targets)


def served_model_metrics(
    model: nn.Module,
    split: Split,
    stage: Stage,
    *,
    max_len: int,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """:func:`served_metrics` of ``model`` behind a fresh, ungated oracle."""
    oracle = Oracle(
        model, max_len=max_len, max_k=min(SERVED_K, int(model.num_items)), device=device
    )
    return served_metrics(oracle, split, stage)
