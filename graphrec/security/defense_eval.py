"""Defenses measured as deployed: benign users replayed, attacks from N accounts.

* :func:`replay_benign`: held-out users ask the service for recommendations after every rating
  (stride 1, the most demanding benign traffic), each from their own account, all users in
  lock-step; the list served for the held-out item's query is what the user gets. Through a gated
  oracle, a user is gated exactly as the gate would gate them.
* :func:`tune_gate`: the soft threshold of a :class:`~graphrec.security.gate.StreamGate`, chosen
  on VALIDATION users only: the most aggressive scale of the calibrated thresholds whose
  validation served utility keeps ``1 - (1 - min_utility) / 2`` (half the utility budget is kept
  as a margin for the validation-to-test gap).
* :func:`accounts_table`: the same extraction attack with its budget spread over ``N`` accounts,
  against each defense; every surrogate is scored on validation users (for choices) and on test
  users (for the report). :func:`accounts_for_agreement` reads off the fewest accounts that
  reach a given Agreement@10.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np
from torch import nn

from graphrec.data.split import Split
from graphrec.eval.sequences import Stage
from graphrec.security.extraction import ExtractionConfig, evaluate_extraction, run_extraction
from graphrec.security.gate import GatedOracle, StreamGate
from graphrec.security.oracle import Oracle
from graphrec.security.served import SERVED_K, held_out_queries, list_metrics, served_metrics
from graphrec.security.stream import QueryStreamDetector

log = logging.getLogger(__name__)

GATE_SCALES = (1.0, 0.5, 0.25, 0.1, 0.05, 0.02)
"""Multiples of the calibrated thresholds tried as the gate's soft threshold."""


def replay_benign(
    oracle: Oracle,
    split: Split,
    stage: Stage,
    *,
    users: Sequence[int] | None = None,
    k: int = 100,
) -> dict[str, float]:
    """Served Hit@10 / NDCG@10 of held-out users who query after every rating, via ``oracle``.

    User ``u`` (account ``"user<u>"``) sends its history's prefixes of length 1, 2, ... up to the
    whole history before the ``stage`` item, each asking ``k`` items (the attack's list length,
    so the gate sees benign users ask what attackers ask); the top-10 served for the last query
    is scored against the held-out item.
    """
    ids, queries, targets = held_out_queries(split, stage, users)
    accounts = [f"user{int(u)}" for u in ids]
    final: list[list[int]] = [[] for _ in queries]
    longest = max((len(q) for q in queries), default=0)
    for t in range(1, longest + 1):
        active = [i for i, q in enumerate(queries) if len(q) >= t]
        lists = oracle.recommend_many(
            [queries[i][:t] for i in active], [accounts[i] for i in active], k
        )
        for i, listed in zip(active, lists, strict=True):
            if len(queries[i]) == t and listed is not None:
                final[i] = listed[:SERVED_K]
    return list_metrics(final, targets)


def gated_utility(
    model: nn.Module,
    defended: nn.Module,
    gate: StreamGate,
    split: Split,
    stage: Stage,
    *,
    users: Sequence[int],
    max_len: int,
) -> dict[str, float]:
    """Benign served NDCG@10 through the gate, divided by the undefended service's.

    Returns:
        ``utility`` (the ratio), ``ndcg@10`` (gated), ``undefended_ndcg@10``, ``gated_users``
        (share of users gated at their held-out query) and ``gated_query_share`` (share of
        all their queries the defended model answered).
    """
    gate.reset()
    gated = replay_benign(
        GatedOracle(model, defended, gate, max_len=max_len), split, stage, users=users
    )
    plain = served_metrics(Oracle(model, max_len=max_len), split, stage, users=users)
    accounts = [f"user{int(u)}" for u in held_out_queries(split, stage, users)[0]]
    return {
        "utility": gated["ndcg@10"] / plain["ndcg@10"] if plain["ndcg@10"] > 0 else float("nan"),
        "ndcg@10": gated["ndcg@10"],
        "undefended_ndcg@10": plain["ndcg@10"],
        "gated_users": float(np.mean([gate.is_gated(a) for a in accounts])) if accounts else 0.0,
        "gated_query_share": gate.gated_share(accounts),
    }


def tune_gate(
    detector: QueryStreamDetector,
    model: nn.Module,
    defended: nn.Module,
    split: Split,
    *,
    users: Sequence[int],
    max_len: int,
    min_utility: float = 0.99,
    scales: Sequence[float] = GATE_SCALES,
) -> tuple[np.ndarray, list[dict[str, float]]]:
    """The gate's soft thresholds, chosen on the VALIDATION items of ``users`` (see module doc).

    Returns:
        ``(thresholds [C], rows)``: the chosen thresholds and one row per scale tried
        (``scale``, ``utility``, ``gated_users``, ``gated_query_share``, all on validation).
    """
    required = 1.0 - (1.0 - min_utility) / 2
    rows, chosen = [], detector.thresholds_ * max(scales)
    for scale in sorted(scales, reverse=True):
        gate = StreamGate(detector, detector.thresholds_ * scale)
        figures = gated_utility(model, defended, gate, split, "valid", users=users, max_len=max_len)
        rows.append({"scale": scale, **figures})
        log.info("gate scale %g on validation: %s", scale, figures)
        if figures["utility"] >= required:
            chosen = detector.thresholds_ * scale
        else:
            break  # lower thresholds only gate more benign users
    return chosen, rows


ServiceFactory = Callable[[], tuple[Oracle, Oracle, Callable[[], float]]]
"""``factory() -> (service, eval_oracle, gated_share)``: a FRESH service for one attack run, the
oracle whose lists the surrogate is compared with, and a function giving the share of the
attack's answered queries the defense touched (gated or blocked)."""


def accounts_table(
    services: Mapping[str, ServiceFactory],
    split: Split,
    attack: ExtractionConfig,
    grid: Sequence[int],
) -> list[dict[str, float | str]]:
    """Agreement@10 and surrogate NDCG@10 of the attack over ``N`` accounts, per defense.

    Every surrogate is evaluated on validation users (``valid_agreement@10``, for choices) and
    on test users (``agreement@1``, ``agreement@10``, ``surrogate_ndcg@10``, ``target_ndcg@10``
    (the compared oracle's served NDCG@10) and ``attack_success``: the report).
    """
    rows: list[dict[str, float | str]] = []
    for name, factory in services.items():
        for accounts in grid:
            service, eval_oracle, touched = factory()
            config = replace(attack, accounts=int(accounts))
            result = run_extraction(service, split, config, eval_oracle=eval_oracle, stage="valid")
            test = evaluate_extraction(
                result.attack.surrogate,
                eval_oracle,
                split,
                account=config.eval_account,
                max_len=result.attack.max_len,
                stage="test",
            )
            row = {
                "defense": name,
                "accounts": int(accounts),
                "oracle_calls": result.metrics["oracle_calls"],
                "touched_share": touched(),
                "valid_agreement@10": result.metrics["agreement@10"],
                "agreement@1": test["agreement@1"],
                "agreement@10": test["agreement@10"],
                "surrogate_ndcg@10": test["surrogate_ndcg@10"],
                "target_ndcg@10": test["target_ndcg@10"],
                "attack_success": test["attack_success"],
            }
            rows.append(row)
            log.info("accounts table %s N=%d: %s", name, accounts, row)
    return rows


def accounts_for_agreement(
    rows: Sequence[Mapping[str, float | str]], defense: str, level: float = 0.5
) -> int | None:
    """Fewest accounts of ``defense``'s rows whose test Agreement@10 reaches ``level``.

    None when no row of the grid reaches it (the attacker needs more accounts than tried).
    """
    reached = [
        int(row["accounts"])
        for row in rows
        if row["defense"] == defense and float(row["agreement@10"]) >= level
    ]
    return min(reached) if reached else None
