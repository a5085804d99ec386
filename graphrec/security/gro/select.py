"""Choosing GRO's lambda on validation users only, then testing the chosen model once.

Each lambda's defended model (its epoch already selected on validation by
:func:`~graphrec.security.gro.train.train_gro`) is attacked; the surrogate is scored on the
validation users. :func:`choose_lambda` reads only those validation figures: among the lambdas
whose SERVED validation utility (served NDCG@10 of the defended model over the target's) keeps
``min_utility``, the one with the lowest validation Agreement@10; when none keeps it, the one
with the best served validation utility. Test figures are computed afterwards, for the chosen
lambda alone (:func:`test_candidate`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from torch import Tensor

from graphrec.data.split import Split
from graphrec.eval.ranking import evaluate
from graphrec.models.factory import ModelSpec
from graphrec.security.extraction import (
    ExtractionConfig,
    ExtractionResult,
    evaluate_extraction,
    run_extraction,
)
from graphrec.security.gro.train import UTILITY_METRIC, GROConfig, GROResult, train_gro
from graphrec.security.oracle import Oracle
from graphrec.security.served import served_model_metrics

log = logging.getLogger(__name__)


@dataclass
class GROCandidate:
    """One lambda of the sweep: its defended model, the attack on it, its validation figures.

    Attributes:
        lamb: the swap-loss weight.
        result: the GRO training result (model at its validation-selected epoch).
        attack: the extraction attack on the defended model (scored on validation users).
        valid: ``lambda``, ``epoch``, ``served_utility`` (validation), ``valid_agreement@10``,
            ``valid_surrogate_ndcg@10``, ``seconds``.
    """

    lamb: float
    result: GROResult
    attack: ExtractionResult
    valid: dict[str, float]


def sweep_candidates(
    config: GROConfig,
    split: Split,
    spec: ModelSpec,
    lambdas: Sequence[float],
    attack: ExtractionConfig,
    *,
    init_state: dict[str, Tensor],
    target_valid_served: float,
    run_root: Path | None = None,
) -> list[GROCandidate]:
    """Train and attack every lambda, scoring on validation users only."""
    if not lambdas:
        raise ValueError("lambdas must not be empty")
    candidates = []
    for lamb in lambdas:
        start = time.perf_counter()
        result = train_gro(
            replace(config, lamb=float(lamb)),
            split,
            spec,
            init_state=init_state,
            run_dir=None if run_root is None else Path(run_root) / f"gro_lambda_{lamb:g}",
            evaluate_test=False,
        )
        extraction = run_extraction(
            _serve(result.model, config.max_len),
            split,
            attack,
            eval_oracle=_serve(result.model, config.max_len),
            stage="valid",
        )
        valid = {
            "lambda": float(lamb),
            "epoch": float(result.best_epoch),
            "served_utility": result.best_valid[UTILITY_METRIC] / target_valid_served,
            "valid_agreement@10": extraction.metrics["agreement@10"],
            "valid_surrogate_ndcg@10": extraction.metrics["surrogate_ndcg@10"],
            "seconds": time.perf_counter() - start,
        }
        log.info("GRO lambda=%g on validation: %s", lamb, valid)
        candidates.append(GROCandidate(float(lamb), result, extraction, valid))
    return candidates


def choose_lambda(candidates: Sequence[GROCandidate], min_utility: float) -> GROCandidate:
    """The validation choice described in the module doc (reads ``candidate.valid`` only)."""
    if not candidates:
        raise ValueError("no GRO candidates to choose from")
    keeping = [c for c in candidates if c.valid["served_utility"] >= min_utility]
    if keeping:
        return min(keeping, key=lambda c: c.valid["valid_agreement@10"])
    return max(candidates, key=lambda c: c.valid["served_utility"])


def test_candidate(
    candidate: GROCandidate, split: Split, *, max_len: int, ks: Sequence[int] = (5, 10, 20)
) -> dict[str, float]:
    """The chosen lambda's test figures: user-fused and served NDCG@10, the attack on test users.

    Returns:
        ``ndcg10`` (user-fused), ``served_ndcg10``, ``agreement@10``, ``surrogate_ndcg@10``,
        ``attack_success``.
    """
    model = candidate.result.model
    fused = evaluate(model, split, "test", ks=ks, max_len=max_len)
    served = served_model_metrics(model, split, "test", max_len=max_len)
    attack = evaluate_extraction(
        candidate.attack.attack.surrogate,
        _serve(model, max_len),
        split,
        max_len=candidate.attack.attack.max_len,
        stage="test",
    )
    return {
        "ndcg10": fused["ndcg@10"],
        "served_ndcg10": served["ndcg@10"],
        "agreement@1": attack["agreement@1"],
        "agreement@10": attack["agreement@10"],
        "surrogate_ndcg@10": attack["surrogate_ndcg@10"],
        "attack_success": attack["attack_success"],
    }


def _serve(model, max_len: int) -> Oracle:
    return Oracle(model, max_len=max_len, max_k=min(100, int(model.num_items)))
