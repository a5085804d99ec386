"""Detector inputs: the closed-form taste regression equals refitting without each event; the
co-rater suspicion and the consensus deficit by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from graphrec.anomaly.detectors.events import AccountEvents, events_of
from graphrec.anomaly.detectors.neighbourhood import corater_suspicion
from graphrec.anomaly.detectors.taste import LATE_SHARE, consensus_features, taste_features
from graphrec.data.ratings import Ratings, from_raw_events


def tiny_ratings(seed: int = 0) -> Ratings:
    """Five accounts of 2-12 events over fourteen items, one repeated event (averaged)."""
    rng = np.random.default_rng(seed)
    rows, clock = [], 0
    for user, length in enumerate((2, 5, 7, 9, 12)):
        for item in rng.choice(14, size=length, replace=False):
            clock += int(rng.integers(1, 100))
            rows.append((f"u{user}", f"i{item}", int(rng.integers(1, 6)), clock))
    rows.append((rows[-1][0], rows[-1][1], 1, clock + 5))  # a repeat: its pair is averaged
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    return from_raw_events(frame, name="tiny")


def direct_taste(events: AccountEvents, factors: np.ndarray, ridge: float) -> dict[str, np.ndarray]:
    """The same statistics by brute force: per account, refit a ridge regression with an
    unpenalised intercept without each event in turn and predict it."""
    count = np.bincount(events.item, minlength=events.num_items)
    item_mean = np.bincount(events.item, weights=events.rating) / np.maximum(count, 1)
    q = factors / np.sqrt((factors**2).sum(axis=1).mean())
    out = {k: np.zeros(events.num_users) for k in ("incoherence", "late_incoherence", "late_shift")}
    for u in range(events.num_users):
        rows = slice(events.ptr[u], events.ptr[u + 1])
        x, y = q[events.item[rows]], (events.rating - item_mean[events.item])[rows]
        n = len(y)
        loo, loo0 = np.zeros(n), np.zeros(n)
        for i in range(n):
            keep = np.arange(n) != i
            design = np.hstack([np.ones((n - 1, 1)), x[keep]])  # [n - 1, 1 + d]
            penalty = ridge * np.diag([0.0] + [1.0] * x.shape[1])
            coef = np.linalg.solve(design.T @ design + penalty, design.T @ y[keep])
            loo[i] = y[i] - (coef[0] + x[i] @ coef[1:])
            loo0[i] = y[i] - y[keep].mean()
        late = np.arange(n) >= np.ceil((1 - LATE_SHARE) * n)
        out["incoherence"][u] = (loo**2).sum() / (loo0**2).sum()
        out["late_incoherence"][u] = np.log1p(mean(loo[late] ** 2)) - np.log1p(
            mean(loo[~late] ** 2)
        )
        out["late_shift"][u] = mean(y[late]) - mean(y[~late])
    return out


def mean(values: np.ndarray) -> float:
    """The mean, 0 for no values (a two-event account has no late share)."""
    return float(values.mean()) if len(values) else 0.0


def test_taste_features_equal_refitting_without_each_event() -> None:
    ratings = tiny_ratings()
    events = AccountEvents.from_ratings(ratings)
    factors = np.random.default_rng(1).standard_normal((ratings.num_items, 3))
    fast = taste_features(events, factors, ridge=0.7)
    slow = direct_taste(events, factors, ridge=0.7)
    assert events.length.min() == 2 and events.length.max() == 12
    for name, expected in slow.items():
        np.testing.assert_allclose(fast[name], expected, rtol=1e-9, atol=1e-12, err_msg=name)


def test_corater_suspicion_by_hand() -> None:
    # Accounts 0-2 give item "t" a 5 together; 3 and 4 give it a 1; 5 rates only "x".
    rows = [(f"u{u}", "t", 5, u) for u in range(3)] + [("u3", "t", 1, 3), ("u4", "t", 1, 4)]
    rows += [(f"u{u}", "x", 3, 10 + u) for u in range(6)]
    ratings = from_raw_events(
        pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]), name="by-hand"
    )
    events = events_of(ratings)
    signal = np.array([6.0, 5.0, 4.0, 3.0, 2.0, 1.0])  # ranks: centred 5/12 ... -5/12
    centred = (np.arange(6)[::-1] + 1) / 6 - 0.5
    out = corater_suspicion(events, {"s": signal})
    prior = 2.0
    x_group = centred.sum()  # every account gave "x" a 3
    expect_max, expect_mean = np.zeros(6), np.zeros(6)
    for u in range(6):
        same_t = [0, 1, 2] if u < 3 else [3, 4] if u < 5 else []
        x_share = (x_group - centred[u]) / (5 + prior)
        shares = [x_share]
        if same_t:
            shares.append((centred[same_t].sum() - centred[u]) / (len(same_t) - 1 + prior))
        expect_max[u], expect_mean[u] = max(shares), np.mean(shares)
    np.testing.assert_allclose(out["corater_s_max"], expect_max)
    np.testing.assert_allclose(out["corater_s_mean"], expect_mean)
    # the 5-star group of the three most fake-like accounts shares the most suspicion
    assert out["corater_s_max"][:3].min() > out["corater_s_max"][3:].max()


def test_consensus_deficit_by_hand_and_its_direction() -> None:
    """Forty genuine raters follow the items' quality; a pattern bot and a constant rater of as
    many items do not, and fall short of the typical agreement by several standard errors."""
    rng = np.random.default_rng(0)
    quality = rng.uniform(1, 5, size=60)
    rows = []
    for user in range(40):
        for item in rng.choice(60, size=30, replace=False):
            value = int(np.clip(np.rint(quality[item] + rng.normal(0, 1)), 1, 5))
            rows.append((f"g{user}", f"i{item}", value, 0))
    for k, item in enumerate(rng.choice(60, size=50, replace=False)):
        rows.append(("pattern", f"i{item}", (5, 1, 3)[k % 3], 0))
        rows.append(("constant", f"i{item}", 4, 0))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    ratings = from_raw_events(frame, name="consensus")
    events = events_of(ratings)
    deficit = consensus_features(events)["consensus_deficit"]

    z = np.zeros(events.num_users)
    n = np.zeros(events.num_users)
    for u in range(events.num_users):
        rows_u = slice(events.ptr[u], events.ptr[u + 1])
        items, values = events.item[rows_u], events.rating[rows_u]
        crowd = np.array(
            [events.rating[(events.item == i) & (events.user != u)].mean() for i in items]
        )
        r = np.corrcoef(values, crowd)[0, 1] if values.std() > 0 else 0.0
        z[u], n[u] = np.arctanh(np.clip(r, -0.999, 0.999)), len(items)
    expected = (np.median(z) - z) * np.sqrt(n - 3)
    np.testing.assert_allclose(deficit, expected, atol=1e-9)

    genuine = np.array([ratings.user_index(f"g{u}") for u in range(40)])
    for fake in ("pattern", "constant"):
        assert deficit[ratings.user_index(fake)] > deficit[genuine].max()
