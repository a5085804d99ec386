"""Extraction detection at matched query volume, and the accounts an attacker needs to evade it.

A per-account detector whose score grows with the number of queries (SEAT's similar-pair count)
flags any account that sends many queries: an attack of 10,000 queries in one account against
benign users sending a few dozen measures volume, not the attack's pattern. Here every figure is
taken with attack and benign accounts sending the SAME number of queries ``n``:

* benign accounts (:func:`volume_accounts`): every full run of ``n`` consecutive queries of the
  benign streams (users replaying their histories at stride 1; a heavy user gives several);
* attack accounts (:func:`attack_accounts`): the attack's budget split over ``budget // n``
  accounts of ``n`` queries, each growing its own sequences (as ``ExtractionConfig.accounts``);
* the aggregator control (:func:`aggregator_accounts`): many benign users behind one account (a
  household, a proxy), their streams interleaved, cut to ``n`` queries.

At each ``n`` (:func:`matched_volume_table`) a detector's per-account statistics (``[N, C]``,
``account_statistics``) get thresholds calibrated on calibration users' accounts of ``n`` queries
(split-conformal, ``account_fpr / C`` per component); an account is flagged when a component is
over its threshold. Reported: ROC-AUC and PR-AUC of attack against evaluation-benign accounts
(score = the largest margin over the thresholds), detection rate, the false-positive rate on
evaluation users (never used for training or calibration), and the aggregators' flag rate.

:func:`accounts_needed_by_volume` searches the per-account volume an attacker would choose: the
fewest accounts over which it can spend the whole budget with no account flagged by the
detector's own online rule (``predict``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

import numpy as np
from scipy.stats import beta
from sklearn.metrics import average_precision_score, roc_auc_score

from graphrec.security.conformal import conformal_quantile
from graphrec.security.extraction import ExtractionConfig, send_queries
from graphrec.security.oracle import Oracle
from graphrec.security.traffic import Query

log = logging.getLogger(__name__)

VOLUMES = (25, 50, 100, 200, 500)
"""Queries per account of the matched-volume table."""


class VolumeDetector(Protocol):
    """What the matched-volume evaluation needs of a detector."""

    def account_statistics(self, streams: Sequence[Sequence[Query]]) -> np.ndarray:
        """Per-account statistics ``[N, C]``, higher = more suspicious in every column."""

    def predict(self, streams: Sequence[Sequence[Query]]) -> np.ndarray:
        """The detector's own (online) flag of each account, ``[N]``."""


def volume_accounts(streams: Sequence[Sequence[Query]], n: int) -> list[list[Query]]:
    """Every full run of ``n`` consecutive queries of every stream, in order."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return [list(s[lo : lo + n]) for s in streams for lo in range(0, len(s) - n + 1, n)]


def aggregator_accounts(
    streams: Sequence[Sequence[Query]], n: int, *, users_per_account: int = 10, seed: int = 0
) -> list[list[Query]]:
    """Benign users behind shared accounts: groups of streams interleaved, first ``n`` queries.

    Users are shuffled (``seed``) into disjoint groups of ``users_per_account``; each group's
    streams are interleaved round-robin (one query of each user in turn, as a proxy forwards
    concurrent users) and groups with at least ``n`` queries give one account.
    """
    if users_per_account < 2:
        raise ValueError(f"users_per_account must be >= 2, got {users_per_account}")
    order = np.random.default_rng(seed).permutation(len(streams))
    accounts = []
    for lo in range(0, len(order) - users_per_account + 1, users_per_account):
        group = [list(streams[i]) for i in order[lo : lo + users_per_account]]
        longest = max(len(s) for s in group)
        merged = [s[t] for t in range(longest) for s in group if t < len(s)]
        if len(merged) >= n:
            accounts.append(merged[:n])
    return accounts


def attack_accounts(
    oracle: Oracle, attack: ExtractionConfig, n: int, *, account: str = "probe"
) -> list[list[Query]]:
    """The attack's budget spread over ``budget // n`` accounts of (about) ``n`` queries each.

    Every account grows its own sequences through ``oracle`` (whose log the streams are read
    from); the account names start with ``account`` so they never mix with other traffic.
    """
    accounts = max(1, attack.budget // n)
    config = replace(attack, accounts=accounts, budget=accounts * n, account=account)
    send_queries(oracle, oracle.num_items, config)
    log_ = oracle.query_log
    return [log_.get(name, []) for name in config.account_names()]


def flag_scores(
    statistics: np.ndarray, calibration: np.ndarray, account_fpr: float
) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds ``[C]`` from calibration statistics and each account's margin over them ``[N]``.

    Each component gets the split-conformal ``1 - account_fpr / C`` quantile; the margin is the
    largest ``statistic - threshold`` over components (flagged when > 0).
    """
    share = account_fpr / calibration.shape[1]
    thresholds = np.array(
        [conformal_quantile(calibration[:, c], share) for c in range(calibration.shape[1])]
    )
    return thresholds, (statistics - thresholds).max(axis=1)


def matched_volume_table(
    detectors: Mapping[str, VolumeDetector],
    *,
    calibration_streams: Sequence[Sequence[Query]],
    evaluation_streams: Sequence[Sequence[Query]],
    attack_streams: Mapping[str, Mapping[int, Sequence[Sequence[Query]]]],
    volumes: Sequence[int] = VOLUMES,
    account_fpr: float = 0.01,
    users_per_aggregator: int = 10,
    seed: int = 0,
) -> list[dict[str, float | str]]:
    """One row per (detector, volume ``n``); see the module doc.

    Args:
        detectors: fitted detectors by name.
        calibration_streams: benign streams of calibration users (thresholds).
        evaluation_streams: benign streams of evaluation users (false positives, aggregators).
        attack_streams: per attack (e.g. ``"autoregressive"``, ``"random"``), the attack
            accounts at each volume (:func:`attack_accounts`). The first attack's figures are
            ``roc_auc``, ``pr_auc``, ``detection_rate``; every attack's are also keyed
            ``<figure>/<attack>``.
        volumes: the ``n`` of each row block.
        account_fpr: the calibrated false-positive rate (default 1 %).
        users_per_aggregator: users behind one aggregator account (default 10).
        seed: the aggregator grouping seed.

    Rows also hold ``fpr_ci`` (the Clopper-Pearson 95 % interval of the false-positive rate: a
    rate measured on a few hundred accounts is uncertain by about a percent).
    """
    rows: list[dict[str, float | str]] = []
    first = next(iter(attack_streams))
    for n in volumes:
        calibration = volume_accounts(calibration_streams, n)
        benign = volume_accounts(evaluation_streams, n)
        aggregated = aggregator_accounts(
            evaluation_streams, n, users_per_account=users_per_aggregator, seed=seed
        )
        attacks = {
            name: [s for s in by_volume[n] if len(s) == n]
            for name, by_volume in attack_streams.items()
        }
        for name, detector in detectors.items():
            row: dict[str, float | str] = {
                "detector": name,
                "volume": n,
                "calibration_accounts": len(calibration),
                "benign_accounts": len(benign),
                "attack_accounts": len(attacks[first]),
                "aggregator_accounts": len(aggregated),
            }
            if len(calibration) < 2 or not benign or not attacks[first]:
                log.warning("volume %d: too few accounts for %s", n, name)
                rows.append(row)
                continue
            cal_stats = detector.account_statistics(calibration)
            _, benign_score = flag_scores(
                detector.account_statistics(benign), cal_stats, account_fpr
            )
            flagged = int((benign_score > 0).sum())
            row.update(
                false_positive_rate=flagged / len(benign_score),
                fpr_ci=clopper_pearson(flagged, len(benign_score)),
            )
            for attack, streams in attacks.items():
                _, attack_score = flag_scores(
                    detector.account_statistics(streams), cal_stats, account_fpr
                )
                labels = np.r_[np.zeros(len(benign_score)), np.ones(len(attack_score))]
                scores = np.r_[benign_score, attack_score]
                figures = {
                    "roc_auc": float(roc_auc_score(labels, scores)),
                    "pr_auc": float(average_precision_score(labels, scores)),
                    "detection_rate": float((attack_score > 0).mean()),
                }
                row.update({f"{key}/{attack}": value for key, value in figures.items()})
                if attack == first:
                    row.update(figures)
            if aggregated:
                _, agg_score = flag_scores(
                    detector.account_statistics(aggregated), cal_stats, account_fpr
                )
                row["aggregator_flag_rate"] = float((agg_score > 0).mean())
            rows.append(row)
            log.info("matched volume %s n=%d: %s", name, n, row)
    return rows


SUMMARY_KEYS = (
    "roc_auc",
    "pr_auc",
    "detection_rate",
    "false_positive_rate",
    "aggregator_flag_rate",
)
"""Figures :func:`summarize_splits` averages (plus every ``<figure>/<attack>``)."""


def summarize_splits(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of several user splits merged per (detector, volume): mean, ``_min``, ``_max``.

    Account counts are averaged too; ``splits`` says how many splits had figures.
    """
    grouped: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["detector"], row["volume"]), []).append(row)
    summary = []
    for (detector, volume), members in grouped.items():
        merged: dict[str, Any] = {"detector": detector, "volume": volume}
        for key in ("calibration_accounts", "benign_accounts", "attack_accounts"):
            merged[key] = float(np.mean([m[key] for m in members]))
        keys = [
            k
            for k in members[0]
            if k in SUMMARY_KEYS or (k.split("/")[0] in SUMMARY_KEYS and "/" in k)
        ]
        measured = [m for m in members if "roc_auc" in m]
        merged["splits"] = len(measured)
        for key in keys:
            values = [m[key] for m in measured if key in m]
            if values:
                merged[key] = float(np.mean(values))
                merged[f"{key}_min"], merged[f"{key}_max"] = float(min(values)), float(max(values))
        summary.append(merged)
    return summary


def clopper_pearson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) ``level`` interval of a binomial rate."""
    tail = (1 - level) / 2
    low = 0.0 if successes == 0 else float(beta.ppf(tail, successes, trials - successes + 1))
    high = (
        1.0 if successes == trials else float(beta.ppf(1 - tail, successes + 1, trials - successes))
    )
    return low, high


def accounts_needed_by_volume(
    flags: Callable[[int], np.ndarray],
    budget: int,
    *,
    candidates: Sequence[int] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
    refine_steps: int = 6,
) -> dict[str, float]:
    """The fewest accounts that spend ``budget`` queries with none flagged.

    Args:
        flags: ``flags(num_accounts)`` runs the attack over that many accounts (each choosing
            ``budget / num_accounts`` queries) and returns each account's flag ``[N]``.
        budget: the attack's queries.
        candidates: account counts tried in increasing order (``budget`` itself is appended:
            one query per account).
        refine_steps: bisection steps between the last flagged and the first clean count.

    Returns:
        ``accounts`` (the fewest clean count found; ``inf`` if even ``budget`` accounts are
        flagged), ``volume`` (queries per account there) and ``tried`` (counts simulated).
    """
    tried: dict[int, bool] = {}

    def clean(num_accounts: int) -> bool:
        if num_accounts not in tried:
            tried[num_accounts] = not bool(np.asarray(flags(num_accounts)).any())
        return tried[num_accounts]

    grid = sorted({c for c in candidates if c < budget} | {budget})
    first = next((c for c in grid if clean(c)), None)
    if first is None:
        return {"accounts": float("inf"), "volume": 1.0, "tried": float(len(tried))}
    position = grid.index(first)
    lo, hi = (grid[position - 1], first) if position else (0, first)
    for _ in range(refine_steps):
        if hi - lo <= 1:
            break
        middle = (lo + hi) // 2
        lo, hi = (lo, middle) if clean(middle) else (middle, hi)
    return {"accounts": float(hi), "volume": budget / hi, "tried": float(len(tried))}
