"""GRO's differentiable ranking: the swap matrix, the student's gradient through it, the swap loss.

A ranking is not differentiable, so GRO (Zhang, Yin, Chen, Long, WSDM 2024) writes the target's
top-k list ``a_1..a_k`` as a swap matrix ``A`` (``A[i, a_i] = 1``, shape ``[k, I]``) and feeds
``c = A @ S_student`` to the student's ranking loss; ``G = dL_student / dA`` says which item at
which rank would hurt the student most, and the swap loss pushes the target that way.
"""

from __future__ import annotations

import torch
from torch import Tensor

from graphrec.security.ranking_loss import list_margin_loss


# ---------------------------------------------------------------------------- the GRO pieces
def swap_matrix(topk: Tensor, num_items: int) -> Tensor:
    """The ranking as a swap matrix: ``A[b, i, topk[b, i]] = 1``, a leaf that requires grad.

    Args:
        topk: ranked item ids, best first, ``[B, k]``.
        num_items: catalogue size ``I``.

    Shapes:
        output: ``[B, k, I]`` float, exactly one 1 per row.
    """
    if topk.dim() != 2:
        raise ValueError(f"topk must be [B, k], got shape {tuple(topk.shape)}")
    if topk.numel() and (topk.min() < 0 or topk.max() >= num_items):
        raise ValueError(f"topk holds item ids outside 0..{num_items - 1}")
    batch_size, k = topk.shape
    a = torch.zeros(batch_size, k, num_items, device=topk.device)  # [B, k, I]
    a.scatter_(2, topk.long().unsqueeze(-1), 1.0)
    return a.requires_grad_(True)


def student_swap_gradient(
    a: Tensor,
    student_scores: Tensor,
    negatives: Tensor,
    *,
    margin: float = 0.5,
    neg_margin: float = 0.5,
) -> tuple[Tensor, Tensor]:
    """The student's loss on the target's ranking and its gradient ``G`` w.r.t. ``A``.

    ``c = A @ S_student`` (a ``bmm``), so ``G[b, i, j] = dL/dc[b, i] * S_student[b, j]``: the
    derivative of the student's loss when item ``j`` takes rank ``i``. The graph is retained so
    the caller can still back-propagate the loss into the student.

    Args:
        a: swap matrix ``[B, k, I]`` (requires grad).
        student_scores: ``[B, I]``.
        negatives: unlisted item ids ``[B, k]`` (see :func:`sample_negatives`).
        margin: ``m1``; neg_margin: ``m2``.

    Returns:
        ``(loss, G)``: a scalar and ``[B, k, I]``.
    """
    if not a.requires_grad:
        raise ValueError("the swap matrix must require grad (build it with swap_matrix)")
    listed = torch.bmm(a, student_scores.unsqueeze(-1)).squeeze(-1)  # [B, k]
    neg_scores = student_scores.gather(1, negatives)  # [B, k]
    loss = list_margin_loss(listed, neg_scores, margin=margin, neg_margin=neg_margin)
    (grad,) = torch.autograd.grad(loss, a, retain_graph=True)  # [B, k, I]
    return loss, grad


def swap_targets(grad: Tensor, a: Tensor, blocked: Tensor | None = None) -> Tensor:
    """``A'``: per row, the one-hot of the column where ``G`` is largest.

    An item may be chosen by several rows. Columns in ``blocked`` (items of the query, which the
    oracle never serves) are not eligible; a row whose gradient is identically zero (all its
    hinges inactive: the student already ranks it right) keeps its own item, i.e. no swap.

    Args:
        grad: ``G = dL_student/dA``, ``[B, k, I]``.
        a: the swap matrix ``[B, k, I]``.
        blocked: optional bool ``[B, I]``.

    Shapes:
        output: ``[B, k, I]`` float one-hot rows (no grad).
    """
    g = grad.detach()
    if blocked is not None:
        g = g.masked_fill(blocked.unsqueeze(1), float("-inf"))  # [B, k, I]
    best = g.argmax(dim=2)  # [B, k]
    still = (grad.detach() == 0).all(dim=2)  # [B, k] no active hinge for this rank
    best = torch.where(still, a.detach().argmax(dim=2), best)  # [B, k]
    out = torch.zeros_like(g)  # [B, k, I]
    return out.scatter_(2, best.unsqueeze(-1), 1.0)


def swap_loss(
    a: Tensor, a_prime: Tensor, target_scores: Tensor, swap_margin: float = 0.0
) -> Tensor:
    """``(1/k) sum_i max((A_i - A'_i) . S_target + m_swap, 0)``, averaged over the batch.

    Each active term is ``S[a_i] - S[a'_i] + m_swap``: its gradient raises the target's score of
    ``a'_i`` and lowers that of ``a_i``.

    Args:
        a, a_prime: ``[B, k, I]``.
        target_scores: the target's (unmasked, finite) scores ``[B, I]``.
        swap_margin: ``m_swap`` (default 0, as in the official code).
    """
    diff = (a.detach() - a_prime).to(target_scores.dtype)  # [B, k, I]
    gap = torch.bmm(diff, target_scores.unsqueeze(-1)).squeeze(-1)  # [B, k]
    return (gap + swap_margin).clamp(min=0).mean()
