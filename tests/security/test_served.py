"""Utility on what is served: hand-checked list metrics, the held-out queries of each stage, and
the served metrics of an oracle equal to the ones the extraction report gives its black box."""

from __future__ import annotations

import math

import numpy as np
import pytest

from graphrec.data.split import user_histories
from graphrec.security.extraction import evaluate_extraction
from graphrec.security.oracle import Oracle
from graphrec.security.served import (
    held_out_queries,
    list_metrics,
    served_metrics,
    served_model_metrics,
)

DRIFT_MAX_LEN = 10
"""Input length of the shared ``drift_target`` model (tests/conftest.py)."""


def test_list_metrics_by_hand() -> None:
    figures = list_metrics([[1, 2, 3], [4, 5], [7]], [2, 9, 7])
    assert figures["hit@10"] == pytest.approx(2 / 3)
    assert figures["ndcg@10"] == pytest.approx((1 / math.log2(3) + 0 + 1) / 3)
    assert figures["num_users"] == 3
    assert list_metrics([list(range(1, 12))], [11])["hit@10"] == 0.0  # rank 11 is past the cut
    with pytest.raises(ValueError, match="2 lists for 1 targets"):
        list_metrics([[1], [2]], [1])


def test_held_out_queries_are_the_histories_before_the_item(tiny_split) -> None:
    train = user_histories(tiny_split.train, tiny_split.num_users)
    users, queries, targets = held_out_queries(tiny_split, "valid")
    valid = tiny_split.valid.set_index("user")["item"]
    for user, query, target in zip(users, queries, targets, strict=True):
        assert query == tuple(train[user].tolist()) and target == valid[user]
    users, queries, targets = held_out_queries(tiny_split, "test", users=users[:2])
    assert len(users) == 2
    for user, query in zip(users, queries, strict=True):
        assert query[-1] == valid[user] and len(query) == len(train[user]) + 1


def test_served_metrics_match_the_extraction_report(drift_target) -> None:
    model, split = drift_target
    oracle = Oracle(model, max_len=DRIFT_MAX_LEN, max_k=10)
    served = served_metrics(oracle, split, "test")
    report = evaluate_extraction(model, oracle, split, max_len=DRIFT_MAX_LEN)
    assert served["ndcg@10"] == pytest.approx(report["target_ndcg@10"])
    assert served["hit@10"] == pytest.approx(report["target_hit@10"])
    again = served_model_metrics(model, split, "test", max_len=DRIFT_MAX_LEN)
    assert again["ndcg@10"] == pytest.approx(served["ndcg@10"])
    assert np.isfinite(
        served_model_metrics(model, split, "valid", max_len=DRIFT_MAX_LEN)["ndcg@10"]
    )
