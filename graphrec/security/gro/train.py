"""GRO training: one step (target and student), the student's warm-up, and the training loop.

See :mod:`graphrec.security.gro` for the algorithm. The loop mirrors
:func:`graphrec.train.trainer.train` and keeps, with a warm start, the last epoch whose SERVED
validation NDCG@10 (the lists the oracle serves for anonymous history queries) keeps
``min_valid_utility`` of the warm start's: the defense's utility bound applies to what is served.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from graphrec.data.split import Split
from graphrec.eval.ranking import evaluate
from graphrec.models.batch import SequenceBatch, iter_batches, training_sequences
from graphrec.models.factory import ModelSpec
from graphrec.progress import progress_bar
from graphrec.security.gro.queries import ServedLists, serve_queries
from graphrec.security.gro.swap import student_swap_gradient, swap_loss, swap_matrix, swap_targets
from graphrec.security.ranking_loss import list_margin_loss
from graphrec.security.served import served_model_metrics
from graphrec.train.checkpoint import save_checkpoint
from graphrec.train.trainer import build_for_split

log = logging.getLogger(__name__)

SELECTION_METRIC = "ndcg@10"
UTILITY_METRIC = "served_ndcg@10"
"""What the utility bound reads: NDCG@10 of the lists the oracle serves (anonymous queries)."""
DEFAULT_LAMBDAS = (0.001, 0.01, 0.1, 1.0)
"""The lambda grid of the paper."""


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
        min_valid_utility: with a warm start, select the LAST epoch whose SERVED validation
            NDCG@10 (``served_ndcg@10``: the lists the oracle serves for the validation users'
            histories) keeps this share of the warm start's (the most defended model that keeps
            the utility) instead of the best validation epoch, which favours the least defended
            one. None (default): the best validation epoch.
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


def served_lists(
    target: nn.Module, batch: SequenceBatch, config: GROConfig, generator: torch.Generator
) -> ServedLists:
    """:func:`serve_queries` with the prefixes and list length of ``config``."""
    return serve_queries(
        target,
        batch,
        k=config.k,
        random_prefix=config.random_prefix,
        repeats=config.queries_per_sequence,
        generator=generator,
    )


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

    served = served_lists(target, batch, config, generator)
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
        batches = iter_batches(data, config.batch_size, shuffle=True, generator=shuffle)
        total = -(-len(data) // config.batch_size)
        for batch in progress_bar(batches, total=total, desc=f"GRO student warm-up {epoch}"):
            with torch.no_grad():
                served = served_lists(target, batch.to(device), config, generator)
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
        test: its test metrics, ``served_ndcg@10`` included (empty when not evaluated).
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
    evaluate_test: bool = True,
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
        evaluate_test: test the selected epoch (default True); False leaves ``test`` empty, for
            a caller that still has to choose among several runs on validation data.
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
        bound = config.min_valid_utility * _evaluate(target, split, "valid", config)[UTILITY_METRIC]
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
        batches = iter_batches(data, config.batch_size, shuffle=True, generator=shuffle)
        total = -(-len(data) // config.batch_size)
        for batch in progress_bar(batches, total=total, desc=f"GRO epoch {epoch}/{config.epochs}"):
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
        keeps_utility = bound is not None and valid[UTILITY_METRIC] >= bound
        if keeps_utility:
            kept.take(epoch, valid, target)
        stale = 0 if (improved if bound is None else keeps_utility) else stale + 1
        if run_dir is not None:
            _save(Path(run_dir) / "last.pt", target, spec, config, epoch, valid)

    chosen = kept if kept.epoch else best
    if bound is not None and not kept.epoch:
        log.warning(
            "GRO lambda=%g: no epoch kept valid %s >= %.4g; the best epoch is used",
            config.lamb,
            UTILITY_METRIC,
            bound,
        )
    best_epoch, best_valid = chosen.epoch, chosen.valid
    if chosen.state is not None:
        target.load_state_dict(chosen.state)
        if run_dir is not None:
            _save(Path(run_dir) / "best.pt", target, spec, config, best_epoch, best_valid)
    target.eval()
    test = _evaluate(target, split, "test", config) if evaluate_test else {}
    seconds = time.perf_counter() - start
    log.info(
        "GRO lambda=%g: best epoch %d, valid %s", config.lamb, best_epoch, _rounded(best_valid)
    )
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
    """The user-fused ranking metrics and, as ``served_ndcg@10``, the served lists' NDCG@10."""
    metrics = evaluate(
        model,
        split,
        stage,
        ks=config.eval_ks,
        batch_size=config.eval_batch_size,
        max_len=config.max_len,
        device=config.device,
    )
    served = served_model_metrics(model, split, stage, max_len=config.max_len, device=config.device)
    return {**metrics, UTILITY_METRIC: served["ndcg@10"]}


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
