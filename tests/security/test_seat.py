"""SEAT: held-out calibration, the attacker is flagged and benign users are not, accounts needed,
and the monitor refusing a flagged account at the oracle."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import torch

from graphrec.security.seat import (
    EncoderTraining,
    SEATDetector,
    SimilarityEncoder,
    account_limit,
    benign_pair_distances,
    count_similar_pairs,
    gradient_swaps,
    pair_threshold,
    pgd_embedding,
)
from graphrec.security.seat.monitor import (
    AccountMonitor,
    account_assignment,
    accounts_needed,
    detection_report,
    spread_queries,
)
from graphrec.security.traffic import benign_streams, replay_queries, split_users

NUM_ITEMS = 60
NUM_USERS = 90
MAX_LEN = 10
MIN_LEN = 3


def synthetic_events(seed: int = 0) -> pd.DataFrame:
    """Users with 6..12 distinct random items each, in time order."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(NUM_USERS):
        for step, item in enumerate(
            rng.choice(NUM_ITEMS, size=int(rng.integers(6, 13)), replace=False)
        ):
            rows.append((user, int(item), 1.0, 1_000 * user + step))
    return pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])


def autoregressive_stream(num_sequences: int, length: int, seed: int) -> list[tuple[int, ...]]:
    """Every prefix of sequences grown one random item at a time (Yue et al.'s query shape)."""
    rng = np.random.default_rng(seed)
    queries = []
    for _ in range(num_sequences):
        sequence = [int(i) for i in rng.choice(NUM_ITEMS, size=length, replace=False)]
        queries.extend(tuple(sequence[:t]) for t in range(1, length + 1))
    return queries


@pytest.fixture(scope="module")
def traffic():
    events = synthetic_events()
    train_users, calib_users, eval_users = split_users(range(NUM_USERS), (0.4, 0.3, 0.3), seed=1)
    make = dict(num_users=NUM_USERS, max_len=MAX_LEN, min_len=MIN_LEN)
    return {
        "users": (train_users, calib_users, eval_users),
        "train": benign_streams(events, train_users, **make),
        "calibration": benign_streams(events, calib_users, **make),
        "evaluation": benign_streams(events, eval_users, **make),
    }


@pytest.fixture(scope="module")
def detector(traffic) -> SEATDetector:
    torch.manual_seed(0)
    items = torch.randn(NUM_ITEMS, 16)
    return SEATDetector(
        items,
        max_len=MAX_LEN,
        hidden_channels=32,
        out_channels=8,
        training=EncoderTraining(epochs=4, batch_size=64, pgd_steps=3, seed=0),
    ).fit(traffic["train"], traffic["calibration"])


def test_calibration_users_are_disjoint_from_training_and_evaluation(traffic, detector) -> None:
    train_users, calib_users, eval_users = traffic["users"]
    assert not set(train_users) & set(calib_users)
    assert not set(calib_users) & set(eval_users)
    assert not set(train_users) & set(eval_users)
    assert len(train_users) + len(calib_users) + len(eval_users) == NUM_USERS
    assert set(detector.calibration_accounts_) == set(traffic["calibration"])
    assert not set(detector.calibration_accounts_) & set(detector.training_accounts_)
    assert not set(detector.calibration_accounts_) & set(traffic["evaluation"])
    # the same account in both roles is refused
    with pytest.raises(ValueError, match="held out"):
        SEATDetector(torch.randn(NUM_ITEMS, 16), max_len=MAX_LEN).fit(
            traffic["train"], traffic["train"]
        )


def test_fit_without_calibration_holds_accounts_out(traffic) -> None:
    det = SEATDetector(
        torch.randn(NUM_ITEMS, 16),
        max_len=MAX_LEN,
        out_channels=8,
        training=EncoderTraining(epochs=1, batch_size=64, pgd_steps=1),
    ).fit(traffic["train"])
    assert det.calibration_accounts_ and det.training_accounts_
    assert not set(det.calibration_accounts_) & set(det.training_accounts_)
    assert set(det.calibration_accounts_) | set(det.training_accounts_) == set(traffic["train"])


def test_thresholds_follow_their_definitions(traffic, detector) -> None:
    # account limit: at most 1 % of calibration accounts exceed it (27 accounts: none)
    assert (detector.decision_score_ > detector.threshold_).mean() <= 0.01
    assert detector.threshold_ == detector.decision_score_.max()
    counts = detector.decision_function(traffic["calibration"])
    assert np.array_equal(counts, detector.decision_score_)
    assert detector.pair_threshold_ > 0


def test_pair_threshold_and_account_limit_rules(caplog) -> None:
    distances = np.arange(20_000, dtype=float)[::-1].copy()
    assert pair_threshold(distances, 1e-4) == 2.0  # floor(2.0) pairs (0 and 1) lie strictly below
    with caplog.at_level(logging.WARNING):
        assert pair_threshold(np.array([5.0, 3.0, 4.0]), 1e-4) == 3.0
    assert "needs >= 10000" in caplog.text
    # conformal rank ceil(1001 * 0.99) = 991: the 9 counts 991..999 are above (<= 1 %)
    assert account_limit(np.arange(1000), 0.01) == 990
    with caplog.at_level(logging.WARNING):  # too few accounts for 1 %: the largest count
        assert account_limit(np.arange(50), 0.01) == 49
    with pytest.raises(ValueError, match="fpr"):
        pair_threshold(distances, 0.0)


def test_identical_queries_of_different_users_do_not_pin_the_threshold_at_zero(detector) -> None:
    # 400 accounts each asking one of three popular single items, plus one distinct longer query:
    # nearly every cross-account pair is an exact duplicate (distance 0)
    rng = np.random.default_rng(0)
    streams = [
        [(int(rng.integers(3)),), tuple(int(i) for i in rng.choice(NUM_ITEMS, 5, replace=False))]
        for _ in range(400)
    ]
    queries = [q for stream in streams for q in stream]
    accounts = np.repeat(np.arange(len(streams)), 2)
    z = detector.embed(queries)
    _, ids = np.unique(detector.tokens(queries).numpy(), axis=0, return_inverse=True)
    with_ids = benign_pair_distances(z, accounts, query_ids=ids.reshape(-1))
    assert len(with_ids) and (with_ids > 0).all()
    assert (benign_pair_distances(z, accounts) == 0).mean() > 1e-4  # the collapse left alone
    calibrated = SEATDetector(torch.randn(NUM_ITEMS, 16), max_len=MAX_LEN, out_channels=8)
    calibrated.encoder_ = detector.encoder_
    calibrated.calibrate(streams)
    assert calibrated.pair_threshold_ > 0
    # an account repeating one query counts that pair as similar
    assert calibrated.decision_function([[(1, 2, 3), (1, 2, 3)]])[0] >= 1


def test_attack_account_is_flagged_and_benign_accounts_are_not(traffic, detector) -> None:
    attacks = [autoregressive_stream(12, MAX_LEN, seed) for seed in range(5)]
    report = detection_report(detector, attacks, list(traffic["evaluation"].values()))
    assert report["detection_rate"] == 1.0
    assert report["false_positive_rate"] <= 0.1
    scores = detector.decision_function(attacks)
    assert scores.min() > 3 * detector.threshold_
    # random queries (no near-duplicates) are not what SEAT catches: far fewer similar pairs
    rng = np.random.default_rng(9)
    random_stream = [
        tuple(int(i) for i in rng.choice(NUM_ITEMS, 8, replace=False)) for _ in range(120)
    ]
    assert detector.decision_function([random_stream])[0] < scores.min()


def test_accounts_needed_is_the_smallest_unflagged_spread(detector) -> None:
    queries = autoregressive_stream(20, MAX_LEN, seed=7)
    for strategy in ("round_robin", "contiguous"):
        needed = accounts_needed(queries, detector, strategy=strategy)
        assert needed > 1
        assert detector.predict(spread_queries(queries, needed, strategy)).sum() == 0
        for fewer in range(1, needed):  # every smaller spread leaves a flagged account
            assert detector.predict(spread_queries(queries, fewer, strategy)).sum() > 0
    assert accounts_needed(queries[:1], detector) == 1
    assert accounts_needed([], detector) == 0


def test_account_assignment_shapes() -> None:
    assert account_assignment(7, 3, "round_robin").tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert account_assignment(7, 3, "contiguous").tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert [len(s) for s in spread_queries([(1,)] * 7, 3, "contiguous")] == [3, 2, 2]
    with pytest.raises(ValueError, match="strategy"):
        account_assignment(3, 2, "zigzag")


def test_replay_queries_are_prefix_windows() -> None:
    history = [5, 6, 7, 8, 9]
    assert replay_queries(history, max_len=3) == [(5,), (5, 6), (5, 6, 7), (6, 7, 8), (7, 8, 9)]
    assert replay_queries(history, max_len=3, stride=2) == [(5, 6), (6, 7, 8), (7, 8, 9)]
    assert replay_queries(history, max_len=3, stride=3, min_len=1) == [(5,), (6, 7, 8), (7, 8, 9)]


def test_monitor_refuses_a_flagged_account_through_the_oracle_gate(detector) -> None:
    from graphrec.security.oracle import Oracle, QueryRefused

    class Popular(torch.nn.Module):  # a stand-in black box: fixed scores for every query
        num_items = NUM_ITEMS

        def full_sort_predict(self, batch):
            return torch.arange(NUM_ITEMS, dtype=torch.float).expand(len(batch), -1)

    monitor = AccountMonitor(detector)
    oracle = Oracle(Popular(), max_len=MAX_LEN, gate=monitor, max_k=5)
    benign = replay_queries(list(range(10, 22)), max_len=MAX_LEN, min_len=MIN_LEN)
    for query in benign:
        oracle.recommend(query, 5, account="alice")
    with pytest.raises(QueryRefused) as refused:
        for query in autoregressive_stream(12, MAX_LEN, seed=3):
            oracle.recommend(query, 5, account="mallory")
    assert "mallory" in monitor.flagged and "alice" not in monitor.flagged
    served = oracle.query_log["mallory"]
    # online counting agrees with the offline count: the served queries are within the limit,
    # the refused one would have taken the account over it
    limit, threshold = detector.threshold_, detector.pair_threshold_
    assert count_similar_pairs(detector.embed(served), threshold) <= limit
    assert count_similar_pairs(detector.embed([*served, refused.value.query]), threshold) > limit
    assert monitor.count_of("mallory") > limit
    with pytest.raises(QueryRefused):  # every later query of the flagged account is refused
        oracle.recommend((1, 2, 3), 5, account="mallory")
    assert oracle.calls_of("mallory") == len(served)
    assert oracle.calls_of("alice") == len(benign)


def test_adversarial_perturbations_stay_near_duplicates() -> None:
    torch.manual_seed(0)
    encoder = SimilarityEncoder(num_items=NUM_ITEMS, in_channels=16, out_channels=8)
    tokens = torch.tensor([[0, 0, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]])
    delta = pgd_embedding(encoder, tokens, eps=0.1, steps=3)
    assert delta.abs().max() <= 0.1 + 1e-6
    assert (delta[0, :2] == 0).all()  # PAD positions are never perturbed
    with torch.no_grad():
        moved = (encoder(tokens, delta) - encoder(tokens)).pow(2).sum(-1)
        random_delta = (torch.rand_like(delta) * 0.2 - 0.1) * (tokens != 0).unsqueeze(-1)
        random_moved = (encoder(tokens, random_delta) - encoder(tokens)).pow(2).sum(-1)
    assert (moved >= random_moved).all()  # PGD finds a worse perturbation than noise
    swapped = gradient_swaps(encoder, tokens, steps=2)
    assert ((swapped != tokens).sum(1) <= 2).all() and (swapped[0, :2] == 0).all()
