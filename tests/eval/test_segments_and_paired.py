"""Segment assignment and paired comparisons on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest

from graphrec.eval.paired import bootstrap_users, paired_seeds
from graphrec.eval.segments import history_segments, popularity_segments, segment_table


def test_history_segments_at_their_edges():
    labels = history_segments(np.array([0, 20, 21, 50, 51, 150, 151, 900]))
    assert labels.tolist() == ["<=20", "<=20", "21-50", "21-50", "51-150", "51-150", ">150", ">150"]
    with pytest.raises(ValueError):
        history_segments(np.array([-1]))


def test_popularity_thirds_of_the_items():
    counts = np.array([50, 1, 30, 2, 40, 3])  # head: items 0, 4; torso: 2, 5; tail: 3, 1
    labels = popularity_segments(counts, np.array([0, 4, 2, 5, 3, 1]))
    assert labels.tolist() == ["head", "head", "torso", "torso", "tail", "tail"]


def test_segment_table_means_and_counts():
    per_user = {"ndcg@10": np.array([1.0, 0.0, 0.5, 0.25])}
    rows = segment_table(per_user, np.array(["a", "a", "b", "b"]), ["a", "b", "c"])
    assert rows[0] == {"segment": "a", "users": 2, "ndcg@10": 0.5}
    assert rows[1]["ndcg@10"] == pytest.approx(0.375)
    assert rows[2]["users"] == 0 and np.isnan(rows[2]["ndcg@10"])


def test_bootstrap_finds_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(0)
    b = rng.random(2000)
    better = bootstrap_users(b + 0.05 + rng.normal(0, 0.1, 2000), b, resamples=2000)
    assert better.excludes_zero and 0.04 < better.mean < 0.06 and better.low < better.mean
    same = bootstrap_users(b + rng.normal(0, 0.1, 2000), b, resamples=2000)
    assert not same.excludes_zero
    with pytest.raises(ValueError):
        bootstrap_users(np.ones(3), np.ones(4))


def test_paired_seeds_t_interval_by_hand():
    a, b = np.array([0.11, 0.12, 0.10]), np.array([0.10, 0.10, 0.10])
    result = paired_seeds(a, b)
    diff = a - b  # .01, .02, 0: mean .01, sd .01; t(.975, 2) = 4.303
    half = 4.302653 * 0.01 / np.sqrt(3)
    assert result.mean == pytest.approx(0.01)
    assert (result.low, result.high) == pytest.approx((0.01 - half, 0.01 + half), rel=1e-4)
    assert not result.excludes_zero and diff.shape == (3,)
    with pytest.raises(ValueError, match="two seeds"):
        paired_seeds(a[:1], b[:1])
