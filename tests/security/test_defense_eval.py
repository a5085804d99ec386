"""Defenses as deployed: a plain replay serves what the plain oracle serves, the gate's threshold
is the most aggressive one keeping validation utility, and the accounts read-off is exact."""

from __future__ import annotations

import numpy as np
import pytest

from graphrec.security import defense_eval
from graphrec.security.defense_eval import accounts_for_agreement, replay_benign, tune_gate
from graphrec.security.oracle import Oracle
from graphrec.security.served import served_metrics

DRIFT_MAX_LEN = 10
"""Input length of the shared ``drift_target`` model (tests/conftest.py)."""


def test_a_replay_without_gate_is_served_the_held_out_lists(drift_target) -> None:
    model, split = drift_target
    users = np.arange(0, split.num_users, 3)
    replayed = replay_benign(
        Oracle(model, max_len=DRIFT_MAX_LEN, max_k=10), split, "test", users=users, k=10
    )
    plain = served_metrics(
        Oracle(model, max_len=DRIFT_MAX_LEN, max_k=10), split, "test", users=users
    )
    assert replayed == plain


def test_tune_gate_keeps_the_lowest_scale_within_the_margin(drift_detector, monkeypatch) -> None:
    detector, _, model, split = drift_detector
    utility = {1.0: 1.0, 0.5: 0.999, 0.25: 0.994, 0.1: 1.0}  # 0.25 misses 1 - 0.01 / 2

    def fake(model, defended, gate, split, stage, *, users, max_len):
        assert stage == "valid"
        scale = float(gate.thresholds[0] / detector.thresholds_[0])
        return {"utility": utility[round(scale, 3)], "gated_users": 0.0, "gated_query_share": 0.0}

    monkeypatch.setattr(defense_eval, "gated_utility", fake)
    thresholds, rows = tune_gate(
        detector,
        model,
        model,
        split,
        users=[0, 1],
        max_len=DRIFT_MAX_LEN,
        scales=(1.0, 0.5, 0.25, 0.1),
    )
    assert np.allclose(thresholds, detector.thresholds_ * 0.5)
    assert [row["scale"] for row in rows] == [1.0, 0.5, 0.25]  # stops at the first miss


def test_accounts_for_agreement_reads_the_fewest_accounts() -> None:
    rows = [
        {"defense": "a", "accounts": 1, "agreement@10": 0.3},
        {"defense": "a", "accounts": 20, "agreement@10": 0.55},
        {"defense": "a", "accounts": 5, "agreement@10": 0.5},
        {"defense": "b", "accounts": 1, "agreement@10": 0.1},
    ]
    assert accounts_for_agreement(rows, "a") == 5
    assert accounts_for_agreement(rows, "b") is None
    assert accounts_for_agreement(rows, "a", level=0.6) is None
    with pytest.raises(KeyError):
        accounts_for_agreement([{"defense": "a"}], "a")
