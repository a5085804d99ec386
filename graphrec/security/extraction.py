"""The model-extraction attack end to end, and how well it extracted the black box.

Yue et al., "Black-Box Attacks on Sequential Recommenders via Data-Free Model Extraction", RecSys
2021: generate synthetic query sequences (random or autoregressive), collect the black box's top-k
for every prefix, and distil them into a surrogate of the same family (:mod:`.queries`,
:mod:`.surrogate`).

The black-box boundary is kept by the signatures: :func:`extract` receives an :class:`Oracle` and
the catalogue size, nothing else. Evaluation needs the target's answers on REAL test sequences;
they are asked through an oracle too (by default the same one, from a separate evaluation account
whose calls are reported apart from the attack budget), so the target's model is never handled
here. Metrics (SPEC §7), all on the real test split, full catalogue, each user's history masked:

- Agreement@K: mean over test users of ``|topK(target) ∩ topK(surrogate)| / K``;
- the surrogate's Hit@10 / NDCG@10 (the metrics of :mod:`graphrec.eval.ranking`; the surrogate
  knows no real user, so each user's sequence is an anonymous query to it);
- the black box's Hit@10 / NDCG@10 *as served* (from the lists the oracle returns for the same
  anonymous queries) and attack success = surrogate NDCG@10 ÷ target NDCG@10.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
from torch import nn

from graphrec.data.split import Split
from graphrec.errors import GraphrecError
from graphrec.eval.ranking import ranking_metrics
from graphrec.eval.sequences import EvalSequences, Stage, eval_sequences
from graphrec.models.batch import SequenceBatch
from graphrec.security.oracle import Oracle
from graphrec.security.queries import (
    ATTACK_ACCOUNT,
    SAMPLING,
    Answer,
    autoregressive_queries,
    budget_plan,
    label_prefixes,
    random_queries,
)
from graphrec.security.served import list_metrics
from graphrec.security.surrogate import SurrogateConfig, build_surrogate, fit_surrogate

log = logging.getLogger(__name__)

STRATEGIES = ("random", "autoregressive")
EVAL_ACCOUNT = "evaluation"


@dataclass(frozen=True)
class ExtractionConfig:
    """One extraction attack.

    Attributes:
        budget: oracle calls the attacker may make (default 10,000).
        strategy: ``random`` or ``autoregressive`` query generation (default autoregressive).
        k: list length asked of the oracle (default 100, Yue et al.; 10 also used).
        length: items per synthetic sequence (default 30).
        sampling: how autoregressive generation picks the next item from a list, ``uniform`` or
            ``rank`` (default uniform).
        surrogate: the surrogate's architecture and training; it reads at most ``length`` items
            (its ``max_len`` is capped there: learned positions beyond the longest query would
            never be trained, yet real histories would use them).
        account: the attacker's account at the oracle (default ``attacker``).
        accounts: accounts the budget is spread over (default 1): each spends an equal share
            on its own sequences (:func:`~graphrec.security.queries.budget_plan`), cut to at
            most ``ceil(budget / accounts)`` items.
        eval_account: the account evaluation queries come from (default ``evaluation``).
        seed: the attacker's query randomness (default 0).
    """

    budget: int = 10_000
    strategy: str = "autoregressive"
    k: int = 100
    length: int = 30
    sampling: str = "uniform"
    surrogate: SurrogateConfig = field(default_factory=SurrogateConfig)
    account: str = ATTACK_ACCOUNT
    accounts: int = 1
    eval_account: str = EVAL_ACCOUNT
    seed: int = 0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; expected one of {STRATEGIES}")
        if self.sampling not in SAMPLING:
            raise ValueError(f"unknown sampling {self.sampling!r}; expected one of {SAMPLING}")
        for name in ("budget", "k", "length", "accounts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.account == self.eval_account:
            raise ValueError("the attack and evaluation accounts must differ")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def sequence_length(self) -> int:
        """Items per sequence: ``length``, or less when each account's share is smaller."""
        return min(self.length, -(-self.budget // self.accounts))

    def account_names(self) -> list[str]:
        """Every account the attack may send from."""
        if self.accounts == 1:
            return [self.account]
        return [f"{self.account}_{a}" for a in range(self.accounts)]


@dataclass
class Attack:
    """What the attacker ends up with.

    Attributes:
        surrogate: the trained surrogate (eval mode).
        sequences: the synthetic query sequences (the surrogate's pseudo-users).
        answers: one ``(prefix, top-k)`` pair per oracle call.
        oracle_calls: calls the attacker's account made (== ``len(answers)`` <= budget).
        query_seconds: time spent generating and asking queries.
        train_seconds: time spent training the surrogate.
        history: the surrogate's per-epoch loss records.
        max_len: the input length the surrogate reads.
    """

    surrogate: nn.Module
    sequences: list[np.ndarray]
    answers: list[Answer]
    oracle_calls: int
    query_seconds: float
    train_seconds: float
    history: list[dict[str, float]]
    max_len: int


@dataclass
class ExtractionResult:
    """An attack and its evaluation.

    Attributes:
        attack: the attack's artefacts.
        metrics: ``agreement@1``, ``agreement@10``, ``surrogate_hit@10``, ``surrogate_ndcg@10``,
            ``target_hit@10``, ``target_ndcg@10``, ``attack_success``, ``oracle_calls``,
            ``eval_calls``, ``num_sequences``, ``query_seconds``, ``train_seconds``, ``seconds``.
        config: the attack's configuration.
    """

    attack: Attack
    metrics: dict[str, float]
    config: ExtractionConfig


def send_queries(
    oracle: Oracle, num_items: int, config: ExtractionConfig
) -> tuple[list[np.ndarray], list[Answer]]:
    """The attack's query phase: spend the budget (over ``config.accounts`` accounts).

    Returns:
        ``(sequences, answers)``: the synthetic sequences (the surrogate's pseudo-users) and one
        ``(prefix, top-k)`` pair per answered oracle call.
    """
    if not isinstance(oracle, Oracle):
        raise TypeError(f"the attack needs an Oracle, got {type(oracle).__name__}")
    if num_items != oracle.num_items:
        raise ValueError(f"num_items={num_items} but the oracle serves {oracle.num_items} items")
    rng = np.random.default_rng(config.seed)
    names = config.account_names()
    before = sum(oracle.calls_of(name) for name in names)
    length = config.sequence_length
    owners, allowance = budget_plan(config.budget, length, config.accounts, config.account)
    if config.strategy == "random":
        sequences = random_queries(num_items, len(owners), length, rng)
        answers = label_prefixes(oracle, sequences, config.k, account=owners, allowance=allowance)
        sequences = [s[:paid] for s, paid in zip(sequences, allowance, strict=True)]
    else:
        sequences, answers = autoregressive_queries(
            oracle,
            num_items,
            len(owners),
            length,
            config.k,
            rng,
            owners,
            sampling=config.sampling,
            allowance=allowance,
        )
    calls = sum(oracle.calls_of(name) for name in names) - before
    if calls != len(answers) or calls > config.budget:
        raise RuntimeError(f"attack made {calls} calls for {len(answers)} answers")
    return sequences, answers


def extract(oracle: Oracle, num_items: int, config: ExtractionConfig | None = None) -> Attack:
    """Run the attack: query the black box within the budget, then train a surrogate.

    Only the oracle and the catalogue size come in: the attacker holds no model, no data.
    """
    config = config or ExtractionConfig()
    start = time.perf_counter()
    sequences, answers = send_queries(oracle, num_items, config)
    query_seconds = time.perf_counter() - start
    calls = len(answers)
    if not answers:
        raise GraphrecError("the oracle answered none of the attack's queries")
    length = config.sequence_length
    start = time.perf_counter()
    surrogate_config = replace(config.surrogate, max_len=min(config.surrogate.max_len, length))
    surrogate = build_surrogate(sequences, num_items, surrogate_config)
    packed = sequences if surrogate_config.pack == "sequence" else None
    history = fit_surrogate(surrogate, answers, surrogate_config, sequences=packed)
    train_seconds = time.perf_counter() - start
    log.info(
        "extraction (%s): %d calls, %d sequences, queries %.1fs, training %.1fs",
        config.strategy,
        calls,
        len(sequences),
        query_seconds,
        train_seconds,
    )
    return Attack(
        surrogate=surrogate,
        sequences=sequences,
        answers=answers,
        oracle_calls=calls,
        query_seconds=query_seconds,
        train_seconds=train_seconds,
        history=history,
        max_len=surrogate_config.max_len,
    )


def evaluate_extraction(
    surrogate: nn.Module,
    eval_oracle: Oracle,
    split: Split,
    *,
    ks: Sequence[int] = (1, 10),
    account: str = EVAL_ACCOUNT,
    max_len: int = 50,
    batch_size: int = 1024,
    stage: Stage = "test",
) -> dict[str, float]:
    """Agreement@K and accuracy of a surrogate against the black box on real held-out users.

    Each user's whole history before the ``stage`` item (time order) is one query: the oracle
    reads its most recent items and excludes all of them, which is the masked full ranking of
    the evaluation protocol; the surrogate ranks the same history with the same mask. Choices
    (a defense's lambda, a gate's threshold) read ``stage="valid"``; reports read ``"test"``.

    Args:
        surrogate: any recommender over the same catalogue (``full_sort_predict``).
        eval_oracle: the black box (its ``account`` calls are the evaluation's cost).
        split: the real split (only its test users and their histories are used).
        ks: agreement cut-offs (default 1 and 10).
        account: the evaluation account (default ``evaluation``).
        max_len: input length of the surrogate (default 50).
        batch_size: users per forward pass (default 1024).
        stage: ``"test"`` (default) or ``"valid"``: whose held-out items are ranked.

    Returns:
        ``agreement@K`` for every K, ``surrogate_hit@10``, ``surrogate_ndcg@10``,
        ``target_hit@10``, ``target_ndcg@10``, ``attack_success`` (NaN when the target's NDCG@10
        is 0), ``eval_calls`` and ``num_users``.
    """
    if not ks or any(k < 1 for k in ks):
        raise ValueError(f"ks must be positive cut-offs, got {list(ks)}")
    data = eval_sequences(split, stage, max_len)
    n = len(data)
    if n == 0:
        raise ValueError(f"the split has no {stage} users")
    depth = max(max(ks), 10)
    histories = [data.seen(row) for row in range(n)]
    before = eval_oracle.calls_of(account)
    target_lists = eval_oracle.recommend_batch(histories, depth, account=account)
    eval_calls = eval_oracle.calls_of(account) - before
    surrogate_top, surrogate_metrics = _surrogate_ranking(surrogate, data, depth, batch_size)
    metrics: dict[str, float] = {}
    for k in ks:
        overlap = [
            len(set(t[:k]) & set(s[:k].tolist()))
            for t, s in zip(target_lists, surrogate_top, strict=True)
        ]
        metrics[f"agreement@{k}"] = float(np.mean(overlap)) / k
    metrics["surrogate_hit@10"] = surrogate_metrics["hit@10"]
    metrics["surrogate_ndcg@10"] = surrogate_metrics["ndcg@10"]
    served = list_metrics(target_lists, data.targets.numpy())
    metrics["target_hit@10"] = served["hit@10"]
    metrics["target_ndcg@10"] = served["ndcg@10"]
    target_ndcg = metrics["target_ndcg@10"]
    metrics["attack_success"] = (
        metrics["surrogate_ndcg@10"] / target_ndcg if target_ndcg > 0 else math.nan
    )
    metrics["eval_calls"] = float(eval_calls)
    metrics["num_users"] = float(n)
    return metrics


def run_extraction(
    oracle: Oracle,
    split: Split,
    config: ExtractionConfig | None = None,
    *,
    eval_oracle: Oracle | None = None,
    stage: Stage = "test",
) -> ExtractionResult:
    """Attack ``oracle`` within the budget, then evaluate the surrogate on ``split``'s users.

    Args:
        oracle: the black box the attacker queries.
        split: the real split, used ONLY for evaluation (the attack sees its catalogue size).
        config: the attack (default :class:`ExtractionConfig`).
        eval_oracle: the black box evaluation queries (default ``oracle``, from
            ``config.eval_account``, counted apart from the attack budget).
        stage: the held-out items the metrics rank (``"test"``, default, or ``"valid"``).
    """
    config = config or ExtractionConfig()
    start = time.perf_counter()
    attack = extract(oracle, split.num_items, config)
    metrics = evaluate_extraction(
        attack.surrogate,
        eval_oracle if eval_oracle is not None else oracle,
        split,
        account=config.eval_account,
        max_len=attack.max_len,
        stage=stage,
    )
    metrics.update(
        oracle_calls=float(attack.oracle_calls),
        num_sequences=float(len(attack.sequences)),
        query_seconds=attack.query_seconds,
        train_seconds=attack.train_seconds,
        seconds=time.perf_counter() - start,
    )
    log.info(
        "extraction %s budget=%d: agreement@10 %.3f, attack success %.3f",
        config.strategy,
        config.budget,
        metrics["agreement@10"],
        metrics["attack_success"],
    )
    return ExtractionResult(attack=attack, metrics=metrics, config=config)


def agreement_curve(
    oracle: Oracle,
    split: Split,
    budgets: Sequence[int],
    config: ExtractionConfig | None = None,
    *,
    eval_oracle: Oracle | None = None,
) -> list[dict[str, float]]:
    """Agreement@10 (and the other metrics) of independent attacks at each budget.

    Returns:
        One row per budget: ``budget``, ``strategy`` and the metrics of :func:`run_extraction`.
    """
    config = config or ExtractionConfig()
    rows: list[dict] = []
    for budget in budgets:
        result = run_extraction(
            oracle, split, replace(config, budget=int(budget)), eval_oracle=eval_oracle
        )
        rows.append({"budget": int(budget), "strategy": config.strategy, **result.metrics})
    return rows


def _surrogate_ranking(
    surrogate: nn.Module, data: EvalSequences, depth: int, batch_size: int
) -> tuple[np.ndarray, dict[str, float]]:
    """The surrogate's top-``depth`` per test user and its Hit@10 / NDCG@10, history masked.

    The rows are scored as anonymous queries (user -1): the surrogate knows no real user. The
    metrics are :func:`graphrec.eval.ranking.ranking_metrics` of the masked full ranking, the
    same definitions and tie rule as :func:`graphrec.eval.ranking.evaluate`.

    Returns:
        ``(top [N, depth] (-1 = none), {"hit@10", "ndcg@10"})``.
    """
    n = len(data)
    num_items = int(surrogate.num_items)
    out = np.full((n, depth), -1, dtype=np.int64)
    per_user: dict[str, list[torch.Tensor]] = {"hit@10": [], "ndcg@10": []}
    device = next(iter(surrogate.parameters()), torch.zeros(0)).device
    was_training = surrogate.training
    surrogate.eval()
    try:
        with torch.no_grad():
            for lo in range(0, n, batch_size):
                hi = min(n, lo + batch_size)
                rows = data.batch.select(slice(lo, hi))
                batch = SequenceBatch(users=torch.full_like(rows.users, -1), items=rows.items)
                scores = surrogate.full_sort_predict(batch.to(device)).float()  # [b, I]
                seen = data.seen_mask(lo, hi, num_items, scores.device)  # [b, I]
                scores = scores.masked_fill(seen, float("-inf"))  # [b, I]
                best = scores.topk(min(depth, num_items), dim=1)
                top = best.indices.masked_fill(best.values == float("-inf"), -1)  # [b, depth]
                out[lo:hi, : top.shape[1]] = top.cpu().numpy()
                targets = data.targets[lo:hi].to(scores.device)  # [b]
                for name, values in ranking_metrics(scores, targets, (10,)).items():
                    if name in per_user:
                        per_user[name].append(values.cpu())
    finally:
        surrogate.train(was_training)
    return out, {name: float(torch.cat(v).mean()) for name, v in per_user.items()}
