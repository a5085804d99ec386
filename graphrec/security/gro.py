"""GRO: train a target recommender whose top-k lists mislead a model-extraction student.

Zhang, Yin, Chen, Long, "Defense Against Model Extraction Attacks on Recommender Systems",
WSDM 2024 (official code: RinneSz/GRO-Gradient-based-Ranking-Optimization). The defender solves
min over the target of L_target - L_student, where the student learns from the target's rankings
as an extraction attacker would. A ranking is not differentiable, so GRO writes the target's
top-k list ``a_1..a_k`` as a swap matrix ``A`` (``A[i, a_i] = 1``, shape ``[k, I]``) and feeds
``c = A @ S_student`` to the student's ranking loss. Each training step:

1. the target scores every item for a query; its top-k (query items excluded, as the
   :class:`~graphrec.security.oracle.Oracle` serves them) gives ``A`` (:func:`swap_matrix`);
2. a student with the target's architecture (its own :class:`GraphSequentialRecommender` over the
   same training graph) scores the items; ``c = A @ S_student``;
3. student loss = hinge between adjacent ranks (margin ``m1``) + hinge against one sampled item
   outside the list per rank (margin ``m2``): the extraction attack's own loss,
   :func:`graphrec.security.surrogate.list_margin_loss`, so the student learns as the attacker;
4. ``G = dL_student / dA`` by ``torch.autograd.grad``; ``A'`` = row-wise one-hot of ``argmax G``
   (:func:`swap_targets`): putting item ``a'_i`` at rank ``i`` would hurt the student most;
5. ``L_swap = (1/k) sum_i max((A_i - A'_i) . S_target + m_swap, 0)`` (:func:`swap_loss`) pushes
   the target to rank ``a'_i`` where it ranked ``a_i``;
6. the target minimises ``L_rec + lambda * L_swap``; the student takes its own step on its loss
   and is discarded at the end.

Unlike the source project's "GRO", ``A`` is a leaf that requires grad and ``c`` is a ``bmm`` with
it, so ``G`` is the real gradient (tested in ``tests/security/test_gro.py``).

Choices this module makes where the paper leaves room (all documented on the functions):

* the target's rankings are those of *anonymous* queries (user id -1, query items masked), which
  is what the oracle serves; the recommendation loss is the ordinary one (with users);
* each training sequence is queried as a random prefix (``random_prefix``), because attackers
  query prefixes of every length (autoregressive queries), not only the full history;
* ``A'`` never points at an item of the query (the oracle can never serve it), and a row whose
  gradient is identically zero (no active hinge) keeps ``A'_i = A_i`` (no swap) instead of the
  arbitrary column 0 that a plain ``argmax`` of zeros would give;
* ``m_swap`` defaults to 0, as in the official code (the paper's formula has a margin: settable);
* the student's randomness (dropout, negative sampling) runs on its own RNG stream, so with
  ``lambda = 0`` the target follows exactly the trajectory of plain training
  (:func:`graphrec.train.trainer.train` with the same seed).

Fine-tuning: :func:`train_gro` accepts ``init_state`` (a trained target's state dict) and then
fine-tunes it with the GRO objective for ``epochs`` epochs, the official repo's ``--use_pretrained``
mode; on a CPU this is much cheaper than training from scratch and is what the benchmark does.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from graphrec.data.split import PAD, Split
from graphrec.eval.ranking import evaluate
from graphrec.models.batch import SequenceBatch, iter_batches, training_sequences
from graphrec.models.factory import ModelSpec
from graphrec.models.recommender import top_k_items
from graphrec.security.surrogate import list_margin_loss, sample_outside
from graphrec.train.checkpoint import save_checkpoint
from graphrec.train.trainer import build_for_split

log = logging.getLogger(__name__)

SELECTION_METRIC = "ndcg@10"
ANONYMOUS_USER = -1
DEFAULT_LAMBDAS = (0.001, 0.01, 0.1, 1.0)
"""The lambda grid of the paper."""


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


# ---------------------------------------------------------------------------- one step
@dataclass(frozen=True)
class GROConfig:
    """Hyper-parameters of GRO training (defaults: the paper's margins and k; our optimiser).

    Attributes:
        lamb: weight ``lambda`` of the swap loss (the paper searches 0.001, 0.01, 0.1, 1).
        k: length of the ranking lists (the oracle's 100).
        margin: ``m1`` of the student's adjacent-rank hinge.
        neg_margin: ``m2`` of the student's hinge against an unlisted item.
        swap_margin: ``m_swap`` of the swap loss (0 as in the official code).
        epochs: GRO epochs (fine-tuning epochs when ``init_state`` is given).
        batch_size: training sequences per step.
        lr, weight_decay: AdamW of the target (the trainer's defaults).
        student_lr: AdamW learning rate of the student (1e-3, as Yue et al.'s surrogate).
        student_warmup_epochs: with a warm start, epochs the student first learns the target's
            served lists alone (:func:`warm_up_student`), so that ``G`` is the gradient of an
            attacker who has already learned something rather than of a random model.
        patience: epochs without validation NDCG@10 improvement before stopping (with
            ``min_valid_utility``: consecutive epochs below the utility bound).
        min_valid_utility: with a warm start, select the LAST epoch whose validation NDCG@10
            keeps this share of the warm start's (the most defended model that keeps the
            utility) instead of the best validation epoch, which favours the least defended one.
            None (default): the best validation epoch.
        max_len: input length (must match the target's ``ModelSpec.max_len``).
        random_prefix: query training sequences as random prefixes (see :func:`query_batch`).
        queries_per_sequence: prefixes drawn per training sequence per step.
        edge_weight: graph edge weighting passed to ``build_for_split``.
        seed: seeds the target's RNG (as ``train``) and, offset, the student's own stream.
        device: where to train.
        eval_ks: cut-offs of the validation / test metrics.
        eval_batch_size: users per evaluation batch.
    """

    lamb: float = 0.01
    k: int = 100
    margin: float = 0.5
    neg_margin: float = 0.5
    swap_margin: float = 0.0
    epochs: int = 5
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-5
    student_lr: float = 1e-3
    student_warmup_epochs: int = 0
    patience: int = 3
    min_valid_utility: float | None = None
    max_len: int = 50
    random_prefix: bool = True
    queries_per_sequence: int = 1
    edge_weight: str = "none"
    seed: int = 42
    device: str = "cpu"
    eval_ks: tuple[int, ...] = (5, 10, 20)
    eval_batch_size: int = 1024

    def __post_init__(self) -> None:
        if self.lamb < 0 or not math.isfinite(self.lamb):
            raise ValueError(f"lamb must be a finite value >= 0, got {self.lamb}")
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        if self.epochs < 0 or self.student_warmup_epochs < 0:
            raise ValueError(
                f"epochs and student_warmup_epochs must be >= 0, got {self.epochs} and "
                f"{self.student_warmup_epochs}"
            )
        if self.queries_per_sequence < 1:
            raise ValueError(f"queries_per_sequence must be >= 1, got {self.queries_per_sequence}")
        if self.min_valid_utility is not None and not 0 < self.min_valid_utility <= 1:
            raise ValueError(f"min_valid_utility must be in (0, 1], got {self.min_valid_utility}")


@dataclass
class GROStepOutput:
    """What one GRO step computed (tensors detached; kept for tests and diagnostics).

    Attributes:
        losses: ``rec``, ``swap``, ``student``, ``train`` (= rec + lambda * swap), ``swapped``
            (share of ranks whose ``a'_i != a_i``).
        queries: the anonymous queries of the step.
        topk: the target's served lists ``[B, k]`` before the step.
        swap_to: the items ``a'_i`` ``[B, k]``.
        grad: ``G = dL_student/dA`` ``[B, k, I]``.
    """

    losses: dict[str, float]
    queries: SequenceBatch
    topk: Tensor
    swap_to: Tensor
    grad: Tensor


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
    target: nn.Module, batch: SequenceBatch, config: GROConfig, generator: torch.Generator
) -> ServedLists:
    """The batch as anonymous queries and the target's top-k lists, as the oracle serves them.

    The target scores in eval mode (no dropout, as the oracle answers) and is returned to the
    mode it was in. Draws the prefixes and the negatives from ``generator``.
    """
    num_items = target.num_items
    queries = query_batch(
        batch,
        random_prefix=config.random_prefix,
        repeats=config.queries_per_sequence,
        generator=generator,
    )
    blocked = query_item_mask(queries, num_items)  # [Q, I]
    was_training = target.training
    target.eval()
    try:
        scores = target.full_sort_predict(queries)  # [Q, I]
    finally:
        target.train(was_training)
    topk = top_k_items(scores.detach(), min(config.k, num_items), exclude=blocked)  # [Q, k]
    negatives = sample_negatives(topk, queries, num_items, generator)  # [Q, k]
    return ServedLists(queries, blocked, scores, topk, negatives)


@contextmanager
def student_rng(generator: torch.Generator, device: torch.device) -> Iterator[None]:
    """The student's own random stream (dropout), seeded from ``generator``.

    The global RNG is forked, so the target's draws (and with ``lamb = 0`` its whole trajectory)
    do not depend on the student.
    """
    seed = int(torch.randint(2**62, (1,), generator=generator))
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def gro_step(
    target: nn.Module,
    student: nn.Module,
    target_optimizer: torch.optim.Optimizer,
    student_optimizer: torch.optim.Optimizer | None,
    batch: SequenceBatch,
    config: GROConfig,
    generator: torch.Generator,
) -> GROStepOutput:
    """One GRO update of the target (and one of the student) on a training batch.

    The target's recommendation loss is computed first, exactly as plain training does (same
    global RNG draws); everything GRO adds draws from ``generator`` or from a forked RNG, so with
    ``lamb = 0`` the target's update equals the plain update bit for bit.

    Args:
        target: the recommender being defended (train mode).
        student: the simulated attacker's model (same architecture, own parameters).
        target_optimizer: optimiser of the target.
        student_optimizer: optimiser of the student (None: the student is not updated).
        batch: training sequences with targets.
        config: GRO hyper-parameters.
        generator: the GRO-specific RNG (prefix lengths, negatives, student dropout seed).
    """
    num_items = target.num_items
    rec = target.calculate_loss(batch)

    served = serve_queries(target, batch, config, generator)
    queries, topk = served.queries, served.topk
    a = swap_matrix(topk, num_items)  # [Q, k, I], leaf with grad
    with student_rng(generator, served.scores.device):
        student.train()
        student_scores = student.full_sort_predict(queries)  # [Q, I]
        student_loss, grad = student_swap_gradient(
            a, student_scores, served.negatives, margin=config.margin, neg_margin=config.neg_margin
        )
        if student_optimizer is not None:
            student_optimizer.zero_grad(set_to_none=True)
            student_loss.backward()
            student_optimizer.step()

    a_prime = swap_targets(grad, a, served.blocked)  # [Q, k, I]
    swap = swap_loss(a, a_prime, served.scores, config.swap_margin)
    loss = rec + config.lamb * swap
    target_optimizer.zero_grad(set_to_none=True)
    loss.backward()
    target_optimizer.step()

    swap_to = a_prime.argmax(dim=2)  # [Q, k]
    losses = {
        "train": float(loss.detach()),
        "rec": float(rec.detach()),
        "swap": float(swap.detach()),
        "student": float(student_loss.detach()),
        "swapped": float((swap_to != topk).float().mean()),
    }
    return GROStepOutput(losses=losses, queries=queries, topk=topk, swap_to=swap_to, grad=grad)


def warm_up_student(
    target: nn.Module,
    student: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Any,
    config: GROConfig,
    generator: torch.Generator,
) -> list[float]:
    """Train the student alone on the (fixed) target's served lists; mean loss per epoch.

    Fine-tuning starts from a converged target, while a fresh student knows nothing: its first
    gradients ``G`` would say what hurts a random model. Warming it up on the same anonymous
    prefix queries and the same list loss (``c = A @ S_student`` is ``S_student[topk]``) makes it
    the attacker GRO is meant to simulate. Draws from ``generator`` and a forked RNG only.
    """
    device = next(target.parameters()).device
    losses = []
    target.eval()
    for epoch in range(1, config.student_warmup_epochs + 1):
        shuffle = torch.Generator().manual_seed(config.seed * 31_337 + epoch)
        total, steps = 0.0, 0
        for batch in iter_batches(data, config.batch_size, shuffle=True, generator=shuffle):
            with torch.no_grad():
                served = serve_queries(target, batch.to(device), config, generator)
            with student_rng(generator, device):
                student.train()
                scores = student.full_sort_predict(served.queries)  # [Q, I]
                loss = list_margin_loss(
                    scores.gather(1, served.topk),  # = A @ S_student
                    scores.gather(1, served.negatives),
                    margin=config.margin,
                    neg_margin=config.neg_margin,
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            total, steps = total + float(loss.detach()), steps + 1
        losses.append(total / max(steps, 1))
        log.info("GRO student warm-up epoch %d: loss %.4f", epoch, losses[-1])
    return losses


# ---------------------------------------------------------------------------- training
@dataclass
class GROResult:
    """A GRO-trained target.

    Attributes:
        model: the defended target at its best validation epoch (eval mode).
        history: one record per epoch (mean losses, validation metrics, seconds).
        seconds: wall-clock time of :func:`train_gro`.
        best_epoch: the selected epoch (>= 1 whenever ``epochs >= 1``).
        best_valid: its validation metrics.
        test: its test metrics.
        spec: the model's constructor arguments.
        config: the GRO hyper-parameters used.
    """

    model: nn.Module
    history: list[dict[str, float]]
    seconds: float
    best_epoch: int
    best_valid: dict[str, float]
    test: dict[str, float]
    spec: ModelSpec
    config: GROConfig
    extra: dict[str, Any] = field(default_factory=dict)


def build_student(spec: ModelSpec, split: Split, config: GROConfig) -> nn.Module:
    """A fresh model of the target's architecture over the same training graph (own weights).

    It is initialised on a forked RNG seeded from ``config.seed + 1``, so building it does not
    shift the target's random stream.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 1)
        return build_for_split(spec, split, config.edge_weight, config.device)


def train_gro(
    config: GROConfig,
    split: Split,
    spec: ModelSpec,
    *,
    init_state: dict[str, Tensor] | None = None,
    run_dir: Path | None = None,
) -> GROResult:
    """Train (or fine-tune) a target with the GRO objective; keep the best validation epoch.

    The loop mirrors :func:`graphrec.train.trainer.train`: one shuffled pass over the training
    sequences per epoch (the order depends on ``(seed, epoch)`` only), validation NDCG@10 after
    every epoch, early stopping after ``patience`` epochs without improvement, the best epoch
    restored and tested. Only GRO epochs are eligible: a warm-started model's epoch 0 is the
    undefended target and is never returned. The student is trained alongside and discarded.

    Args:
        config: GRO hyper-parameters.
        split: the leave-one-out split the target is trained on.
        spec: the target's constructor arguments (``graphrec`` models only: GRO needs a model
            trained by gradient).
        init_state: optional state dict of an already trained target to fine-tune.
        run_dir: optional folder for ``best.pt`` and ``last.pt`` (``model_spec`` and
            ``model_state`` as in the trainer's checkpoints, plus the GRO config and epoch).
    """
    if spec.max_len != config.max_len:
        raise ValueError(f"spec.max_len={spec.max_len} != config.max_len={config.max_len}")
    if spec.name != "graphrec":
        raise ValueError(f"GRO defends graphrec models; got model {spec.name!r}")
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    device = torch.device(config.device)
    target = build_for_split(spec, split, config.edge_weight, device)
    if init_state is not None:
        target.load_state_dict(init_state)
    student = build_student(spec, split, config)
    target_optimizer = torch.optim.AdamW(
        target.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    student_optimizer = torch.optim.AdamW(student.parameters(), lr=config.student_lr)
    generator = torch.Generator().manual_seed(config.seed * 7_919 + 17)
    data = training_sequences(split, config.max_len)
    warmup = []
    if init_state is not None and config.student_warmup_epochs:
        warmup = warm_up_student(target, student, student_optimizer, data, config, generator)

    history: list[dict[str, float]] = []
    bound = None
    if config.min_valid_utility is not None and init_state is not None:
        bound = (
            config.min_valid_utility * _evaluate(target, split, "valid", config)[SELECTION_METRIC]
        )
    best = _Snapshot()  # the best validation epoch
    kept = _Snapshot()  # the last epoch within the utility bound (when there is one)
    stale = 0
    for epoch in range(1, config.epochs + 1):
        if stale >= config.patience:
            break
        epoch_start = time.perf_counter()
        target.train()
        shuffle = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        totals: dict[str, float] = {}
        steps = 0
        for batch in iter_batches(data, config.batch_size, shuffle=True, generator=shuffle):
            out = gro_step(
                target,
                student,
                target_optimizer,
                student_optimizer,
                batch.to(device),
                config,
                generator,
            )
            steps += 1
            for name, value in out.losses.items():
                totals[name] = totals.get(name, 0.0) + value
        record: dict[str, float] = {"epoch": epoch}
        record.update({f"losses/{n}": v / max(steps, 1) for n, v in totals.items()})
        valid = _evaluate(target, split, "valid", config)
        record.update({f"valid/{n}": v for n, v in valid.items()})
        record["epoch_seconds"] = time.perf_counter() - epoch_start
        history.append(record)
        log.info("GRO lambda=%g epoch %d: %s", config.lamb, epoch, _rounded(record))
        improved = valid[SELECTION_METRIC] > best.metric
        if improved:
            best.take(epoch, valid, target)
        if bound is not None and valid[SELECTION_METRIC] >= bound:
            kept.take(epoch, valid, target)
        stale = (
            0 if (improved if bound is None else valid[SELECTION_METRIC] >= bound) else stale + 1
        )
        if run_dir is not None:
            _save(Path(run_dir) / "last.pt", target, spec, config, epoch, valid)

    chosen = kept if kept.epoch else best
    if bound is not None and not kept.epoch:
        log.warning(
            "GRO lambda=%g: no epoch kept valid %s >= %.4g; the best epoch is used",
            config.lamb,
            SELECTION_METRIC,
            bound,
        )
    best_epoch, best_valid = chosen.epoch, chosen.valid
    if chosen.state is not None:
        target.load_state_dict(chosen.state)
        if run_dir is not None:
            _save(Path(run_dir) / "best.pt", target, spec, config, best_epoch, best_valid)
    target.eval()
    test = _evaluate(target, split, "test", config)
    seconds = time.perf_counter() - start
    log.info("GRO lambda=%g: best epoch %d, test %s", config.lamb, best_epoch, _rounded(test))
    return GROResult(
        model=target,
        history=history,
        seconds=seconds,
        best_epoch=best_epoch,
        best_valid=best_valid,
        test=test,
        spec=spec,
        config=config,
        extra={"student_warmup_losses": warmup},
    )


def sweep_lambda(
    config: GROConfig,
    split: Split,
    spec: ModelSpec,
    lambdas: Sequence[float] = DEFAULT_LAMBDAS,
    *,
    init_state: dict[str, Tensor] | None = None,
    run_root: Path | None = None,
) -> dict[float, GROResult]:
    """:func:`train_gro` once per ``lambda`` (same seed, same warm start), keyed by ``lambda``.

    Choosing among them is the caller's trade-off (utility preservation against the attack's
    agreement); ``run_root/lambda_<value>/`` holds each run's checkpoints when given.
    """
    if not lambdas:
        raise ValueError("lambdas must not be empty")
    results: dict[float, GROResult] = {}
    for lamb in lambdas:
        run_dir = None if run_root is None else Path(run_root) / f"lambda_{lamb:g}"
        results[float(lamb)] = train_gro(
            replace(config, lamb=float(lamb)), split, spec, init_state=init_state, run_dir=run_dir
        )
    return results


@dataclass
class _Snapshot:
    """An epoch kept for selection: its number, validation metrics and weights."""

    epoch: int = 0
    metric: float = -1.0
    valid: dict[str, float] = field(default_factory=dict)
    state: dict[str, Tensor] | None = None

    def take(self, epoch: int, valid: dict[str, float], model: nn.Module) -> None:
        self.epoch, self.metric, self.valid = epoch, valid[SELECTION_METRIC], valid
        self.state = {key: value.detach().clone() for key, value in model.state_dict().items()}


def _evaluate(model: nn.Module, split: Split, stage: str, config: GROConfig) -> dict[str, float]:
    return evaluate(
        model,
        split,
        stage,
        ks=config.eval_ks,
        batch_size=config.eval_batch_size,
        max_len=config.max_len,
        device=config.device,
    )


def _save(
    path: Path,
    model: nn.Module,
    spec: ModelSpec,
    config: GROConfig,
    epoch: int,
    valid: dict[str, float],
) -> None:
    save_checkpoint(
        path,
        {
            "model_spec": spec.to_dict(),
            "model_state": model.state_dict(),
            "gro_config": asdict(config),
            "seed": config.seed,
            "epoch": epoch,
            "valid": valid,
        },
    )


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {key: round(float(value), 4) for key, value in values.items()}
