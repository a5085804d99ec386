"""Yue et al.'s ranking-list distillation loss, shared by the surrogate and GRO's student.

A margin hinge between adjacent ranks of a returned top-k list plus a hinge against one item
sampled outside the list per rank (Yue et al., "Black-Box Attacks on Sequential Recommenders via
Data-Free Model Extraction", RecSys 2021). :func:`list_margin_loss` takes already-gathered scores,
so GRO (:mod:`graphrec.security.gro`) can produce them through a differentiable swap matrix;
:func:`ranking_margin_loss` gathers them from a score matrix.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def list_margin_loss(
    listed: Tensor,
    negatives: Tensor,
    *,
    valid: Tensor | None = None,
    margin: float = 0.5,
    neg_margin: float = 0.5,
) -> Tensor:
    """Margin ranking loss of Yue et al. on scores already arranged in the teacher's order.

    ``mean_i max(s[a_{i+1}] - s[a_i] + margin, 0) + mean_i max(s[n_i] - s[a_i] + neg_margin, 0)``:
    each listed item must beat the next one by ``margin`` and beat a non-listed item by
    ``neg_margin``. Both terms are means over the valid (row, rank) pairs, as PyTorch's
    ``MarginRankingLoss`` in the authors' code averages them (GRO writes sums; the difference is a
    constant factor ``k``).

    Args:
        listed: the student's scores of the listed items in the teacher's order, ``[B, k]``.
        negatives: the student's scores of one non-listed item per rank, ``[B, k]``.
        valid: which ranks exist, ``[B, k]`` bool (lists shorter than ``k``; default all).
        margin: adjacent-rank margin (default 0.5).
        neg_margin: listed-vs-outside margin (default 0.5).

    Returns:
        A scalar; 0 when there is no valid pair.
    """
    if listed.dim() != 2 or negatives.shape != listed.shape:
        raise ValueError(
            f"listed and negatives must both be [B, k], got {tuple(listed.shape)} and "
            f"{tuple(negatives.shape)}"
        )
    if valid is None:
        valid = torch.ones_like(listed, dtype=torch.bool)  # [B, k]
    elif valid.shape != listed.shape:
        raise ValueError(f"valid must be {tuple(listed.shape)}, got {tuple(valid.shape)}")
    pair_valid = valid[:, 1:] & valid[:, :-1]  # [B, k-1]
    adjacent = F.relu(listed[:, 1:] - listed[:, :-1] + margin)  # [B, k-1]
    outside = F.relu(negatives - listed + neg_margin)  # [B, k]
    return _masked_mean(adjacent, pair_valid) + _masked_mean(outside, valid)


def ranking_margin_loss(
    scores: Tensor,
    topk: Tensor,
    margin: float = 0.5,
    neg_margin: float = 0.5,
    *,
    exclude: Tensor | None = None,
    negatives: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Yue et al.'s surrogate loss of full score rows against the teacher's top-k lists.

    Gathers the scores of the listed items (in list order), samples one item outside the list
    (and outside ``exclude``) per rank, and applies :func:`list_margin_loss`.

    Args:
        scores: the student's scores of all items, ``[B, I]``.
        topk: the teacher's lists, best first, ``[B, k]``; -1 pads lists shorter than ``k``.
        margin: adjacent-rank margin (default 0.5).
        neg_margin: listed-vs-outside margin (default 0.5).
        exclude: other items never drawn as negatives (e.g. the query's own items), ``[B, m]``,
            -1 = padding (default None).
        negatives: use these negatives instead of sampling, ``[B, k]`` (default None).
        generator: random generator for the negatives (default torch's global one).

    Returns:
        A scalar.
    """
    if scores.dim() != 2 or topk.dim() != 2 or topk.shape[0] != scores.shape[0]:
        raise ValueError(
            f"scores must be [B, I] and topk [B, k], got {tuple(scores.shape)} and "
            f"{tuple(topk.shape)}"
        )
    num_items = scores.shape[1]
    if topk.numel() and int(topk.max()) >= num_items:
        raise ValueError(f"topk holds item ids >= num_items={num_items}")
    valid = topk >= 0  # [B, k]
    if negatives is None:
        excluded = topk if exclude is None else torch.cat([topk, exclude.to(topk)], dim=1)
        negatives = sample_outside(excluded, num_items, topk.shape[1], generator=generator)
    elif negatives.shape != topk.shape:
        raise ValueError(f"negatives must be {tuple(topk.shape)}, got {tuple(negatives.shape)}")
    listed = scores.gather(1, topk.clamp(min=0))  # [B, k]
    outside = scores.gather(1, negatives.to(scores.device))  # [B, k]
    return list_margin_loss(listed, outside, valid=valid, margin=margin, neg_margin=neg_margin)


def sample_outside(
    excluded: Tensor,
    num_items: int,
    num_samples: int,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Uniform item ids outside each row's excluded set, exactly and without a rejection loop.

    With the row's distinct excluded ids sorted, ``s_0 < s_1 < ...``, draw ``r`` uniform in
    ``0..I-n-1`` (``n`` excluded ids) and map it to ``r + #{j : s_j - j <= r}``: the ``r``-th
    non-excluded id. Duplicates and -1 padding in ``excluded`` are allowed.

    Args:
        excluded: ``[B, m]`` item ids, -1 = padding.
        num_items: catalogue size ``I``.
        num_samples: samples per row ``n``.
        generator: random generator (default torch's global one).

    Shapes:
        output: ``[B, num_samples]`` on ``excluded``'s device.

    Raises:
        ValueError: a row excludes the whole catalogue.
    """
    device = excluded.device
    batch_size, width = excluded.shape
    key = excluded.long().masked_fill(excluded < 0, num_items)  # [B, m], pads sort last
    ordered = key.sort(dim=1).values  # [B, m]
    repeated = torch.zeros_like(ordered, dtype=torch.bool)  # [B, m]
    repeated[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    ordered = ordered.masked_fill(repeated, num_items).sort(dim=1).values  # distinct, then pads
    real = ordered < num_items  # [B, m]
    free = num_items - real.sum(dim=1)  # [B]
    if bool((free < 1).any()):
        raise ValueError("a row excludes every item: nothing left to sample")
    steps = ordered - torch.arange(width, device=device)  # [B, m], non-decreasing on real ids
    steps = steps.masked_fill(~real, 2 * num_items + width)  # pads never counted
    uniform = torch.rand(batch_size, num_samples, generator=generator).to(device)  # [B, n]
    draw = (uniform * free.unsqueeze(1)).long()  # [B, n], in 0..free-1
    draw = torch.minimum(draw, free.unsqueeze(1) - 1)
    return draw + torch.searchsorted(steps.contiguous(), draw.contiguous(), right=True)  # [B, n]


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    count = mask.sum()
    if int(count) == 0:
        return values.sum() * 0.0
    return (values * mask).sum() / count


# ---------------------------------------------------------------------- the surrogate
