"""Matched volume: every account of a row sends exactly n queries, so volume alone decides nothing;
aggregators of benign users are scored like single users; the accounts-needed search is exact."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from graphrec.security.extraction import ExtractionConfig
from graphrec.security.oracle import Oracle
from graphrec.security.volume import (
    accounts_needed_by_volume,
    aggregator_accounts,
    attack_accounts,
    clopper_pearson,
    flag_scores,
    matched_volume_table,
    summarize_splits,
    volume_accounts,
)

DRIFT_MAX_LEN = 10
"""Input length of the shared ``drift_target`` model (tests/conftest.py)."""


def stream(user: int, length: int) -> list[tuple[int, ...]]:
    return [(user, step) for step in range(length)]


def test_volume_accounts_are_runs_of_exactly_n_queries() -> None:
    accounts = volume_accounts([stream(0, 7), stream(1, 2), stream(2, 3)], 3)
    assert accounts == [stream(0, 7)[:3], stream(0, 7)[3:6], stream(2, 3)]


def test_aggregators_interleave_users_and_keep_n_queries() -> None:
    streams = [stream(u, 4) for u in range(6)]
    accounts = aggregator_accounts(streams, 5, users_per_account=3, seed=0)
    assert len(accounts) == 2 and all(len(a) == 5 for a in accounts)
    first = accounts[0]
    assert len({q[0] for q in first[:3]}) == 3  # one query of each user in turn
    assert aggregator_accounts(streams, 13, users_per_account=3) == []  # 12 queries < 13


def test_flag_scores_use_conformal_thresholds_per_component() -> None:
    calibration = np.column_stack([np.arange(1.0, 201.0), -np.arange(1.0, 201.0)])
    thresholds, margin = flag_scores(np.array([[199.5, -300.0], [0.0, 5.0]]), calibration, 0.02)
    # 1 % per component: the ceil(201 * 0.99) = 199th smallest of each column
    assert thresholds.tolist() == [199.0, -2.0]
    assert margin.tolist() == [0.5, 7.0]


class VolumeCounter:
    """A detector that only counts queries, and remembers the lengths of the accounts it saw."""

    def __init__(self) -> None:
        self.lengths: set[int] = set()

    def account_statistics(self, streams):
        self.lengths.update(len(s) for s in streams)
        return np.array([[float(len(s))] for s in streams])


def test_volume_alone_decides_nothing_at_matched_volume() -> None:
    counter = VolumeCounter()
    benign = [stream(u, 30) for u in range(40)]
    attack = {5: [stream(100 + a, 5) for a in range(20)], 10: [stream(200, 10)] * 10}
    rows = matched_volume_table(
        {"count": counter},
        calibration_streams=benign[:20],
        evaluation_streams=benign[20:],
        attack_streams={"replay": attack},
        volumes=(5, 10),
        users_per_aggregator=4,
    )
    assert counter.lengths == {5, 10}
    for row in rows:
        assert row["roc_auc"] == 0.5 and row["detection_rate"] == 0.0
        assert row["false_positive_rate"] == 0.0 and row["aggregator_flag_rate"] == 0.0


def test_an_aggregator_and_an_attack_of_equal_volume_meet_the_same_threshold(
    drift_detector,
) -> None:
    detector, streams, model, split = drift_detector
    probe = Oracle(model, max_len=DRIFT_MAX_LEN, max_k=10)
    attack = ExtractionConfig(budget=200, k=10, length=8)
    n = 8
    rows = matched_volume_table(
        {"stream": detector},
        calibration_streams=list(streams["cal"].values()),
        evaluation_streams=list(streams["eval"].values()),
        attack_streams={
            "autoregressive": {n: attack_accounts(probe, attack, n)},
            "random": {
                n: attack_accounts(probe, replace(attack, strategy="random"), n, account="r")
            },
        },
        volumes=(n,),
        users_per_aggregator=3,
    )
    (row,) = rows
    assert row["attack_accounts"] == 25 and row["aggregator_accounts"] >= 5
    assert row["roc_auc"] >= 0.9 and row["detection_rate"] >= 0.8
    assert row["aggregator_flag_rate"] <= 0.2 and row["false_positive_rate"] <= 0.2
    assert (
        row["detection_rate/random"] >= 0.8
        and row["detection_rate/autoregressive"] == (row["detection_rate"])
    )
    low, high = row["fpr_ci"]
    assert low <= row["false_positive_rate"] <= high


def test_splits_are_summarised_by_mean_and_range() -> None:
    rows = [
        {
            "detector": "d",
            "volume": 5,
            "calibration_accounts": 4,
            "benign_accounts": 10,
            "attack_accounts": 3,
            "roc_auc": 0.9,
            "false_positive_rate": 0.0,
            "detection_rate/random": 1.0,
            "split_seed": 1,
        },
        {
            "detector": "d",
            "volume": 5,
            "calibration_accounts": 6,
            "benign_accounts": 12,
            "attack_accounts": 3,
            "roc_auc": 0.7,
            "false_positive_rate": 0.1,
            "detection_rate/random": 0.5,
            "split_seed": 2,
        },
        {
            "detector": "d",
            "volume": 9,
            "calibration_accounts": 1,
            "benign_accounts": 0,
            "attack_accounts": 3,
            "split_seed": 1,
        },
    ]
    first, empty = summarize_splits(rows)
    assert first["roc_auc"] == pytest.approx(0.8) and first["roc_auc_min"] == 0.7
    assert first["false_positive_rate_max"] == 0.1 and first["splits"] == 2
    assert first["detection_rate/random"] == 0.75 and first["benign_accounts"] == 11
    assert empty["splits"] == 0 and "roc_auc" not in empty


def test_clopper_pearson_by_hand() -> None:
    assert clopper_pearson(0, 10) == pytest.approx((0.0, 1 - 0.025 ** (1 / 10)))
    low, high = clopper_pearson(3, 205)
    assert low == pytest.approx(0.00302, abs=1e-4) and high == pytest.approx(0.04218, abs=1e-4)


def test_attack_accounts_split_the_budget(drift_target) -> None:
    model, split = drift_target
    probe = Oracle(model, max_len=DRIFT_MAX_LEN, max_k=10)
    accounts = attack_accounts(probe, ExtractionConfig(budget=100, k=10, length=6), 20)
    assert len(accounts) == 5 and all(len(a) == 20 for a in accounts)
    assert sum(probe.calls_by_account.values()) == 100


def test_accounts_needed_finds_the_fewest_clean_accounts() -> None:
    budget, limit = 1000, 37  # an account is flagged above 37 queries

    def flags(accounts: int) -> np.ndarray:
        return np.full(accounts, budget / accounts > limit)

    found = accounts_needed_by_volume(flags, budget, refine_steps=10)
    assert found["accounts"] == math.ceil(budget / limit) == 28
    assert found["volume"] == pytest.approx(budget / 28)
    never = accounts_needed_by_volume(lambda n: np.ones(n, dtype=bool), budget)
    assert never["accounts"] == math.inf
