"""Group and target detection: planted campaigns are found, targets named, blockbusters not."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from graphrec.anomaly import labels as L
from graphrec.anomaly.detectors.events import AccountEvents
from graphrec.anomaly.detectors.relational import campaign_features
from graphrec.anomaly.groups import (
    DENSE_BLOCK,
    GROUP_COLUMNS,
    LOCKSTEP,
    GroupConfig,
    GroupDetector,
    detect_groups,
    fraudar_peel,
    item_excess,
    poisson_llr,
)
from graphrec.anomaly.inject import (
    BombingConfig,
    Injected,
    InjectionConfig,
    ShillingAttack,
    inject,
)
from graphrec.data.ratings import Ratings, from_raw_events

GENRES = ("Action", "Comedy", "Drama", "Horror", "Romance")


def movielens_like(num_users: int = 400, num_items: int = 300, seed: int = 0) -> Ratings:
    """Zipf popularity, lognormal profile lengths, item quality and user bias, session times."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, num_items + 1) ** 0.9
    pop /= pop.sum()
    quality = rng.normal(3.5, 0.5, num_items)
    rows = []
    for u in range(num_users):
        n = int(np.clip(rng.lognormal(3.2, 0.6), 8, num_items // 2))
        items = rng.choice(num_items, size=n, replace=False, p=pop)
        ratings = np.clip(
            np.rint(quality[items] + rng.normal(0, 0.4) + rng.normal(0, 0.8, n)), 1, 5
        )
        start = rng.integers(0, 200 * 86400)
        times = start + np.cumsum(rng.integers(5, 600, n))
        rows += [(f"{u + 1}", f"i{i}", r, t) for i, r, t in zip(items, ratings, times, strict=True)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    items = pd.DataFrame(
        {
            "title": [f"Film {i}" for i in range(num_items)],
            "genres": [(GENRES[i % 5],) for i in range(num_items)],
        },
        index=[f"i{i}" for i in range(num_items)],
    )
    return from_raw_events(frame, items=items, name="movielens-like")


def without_time(ratings: Ratings) -> Ratings:
    return Ratings(
        events=ratings.events,
        user_ids=ratings.user_ids,
        item_ids=ratings.item_ids,
        items=ratings.items,
        users=ratings.users,
        name=ratings.name,
        has_timestamps=False,
    )


# 40 fakes on an item of 10–30 genuine raters: ML-100K's proportions (47 fakes at 5 %, median
# item 27 raters). Without time, a push much smaller than the item's audience is not detectable.
ATTACK = InjectionConfig(
    shilling=(ShillingAttack(L.PUSH, L.AVERAGE, attack_size=0.1, filler_size=0.05),),
    bombing=BombingConfig(num_groups=1, group_size=15),
)


def campaign(injected: Injected, kind: str) -> tuple[set[int], int]:
    """(accounts of the campaign of this type, its target item)."""
    members = set(injected.accounts.loc[injected.accounts["type"] == kind, "user"].tolist())
    target = int(injected.targets.loc[injected.targets["type"] == kind, "item"].iloc[0])
    return members, target


def best_match(report, members: set[int], target: int) -> tuple[float, float, pd.Series]:
    """Precision and recall of the reported group naming ``target`` that best covers members."""
    rows = report.groups[[target in t for t in report.groups["targets"]]]
    assert len(rows), f"no group names target {target}"
    scored = []
    for _, row in rows.iterrows():
        found = set(row["members"])
        hit = len(found & members)
        scored.append((hit / len(members), hit / len(found), row))
    recall, precision, row = max(scored, key=lambda x: x[0] * x[1])
    return precision, recall, row


def top_popular(ratings: Ratings, k: int = 10) -> set[int]:
    counts = np.bincount(ratings.events["item"].to_numpy(), minlength=ratings.num_items)
    return set(np.argsort(-counts, kind="stable")[:k].tolist())


# ------------------------------------------------------------------------------------ primitives
def test_poisson_llr_hand_values():
    llr = poisson_llr(np.array([10.0, 2.0, 5.0]), np.array([1.0, 4.0, 5.0]))
    assert llr[0] == pytest.approx(10 * np.log(10) - 9)
    assert llr[1] == 0.0 and llr[2] == 0.0  # not above the expectation


def test_item_excess_spike_versus_log_concave_histogram():
    # Item a: unimodal 1..5 histogram; item b: the same plus a pile of 5s (a push).
    hist = {"a": [2, 5, 12, 15, 10], "b": [2, 5, 12, 15, 10 + 30]}
    rows, user = [], 0
    for item, counts in hist.items():
        for value, count in zip(range(1, 6), counts, strict=True):
            for _ in range(count):
                # Every rater also rates 9 background items at 3: raters rarely give 5s.
                rows += [(f"u{user}", item, float(value))]
                rows += [(f"u{user}", f"z{j}", 3.0) for j in range(9)]
                user += 1
    ratings = from_raw_events(pd.DataFrame(rows, columns=["user_id", "item_id", "rating"]))
    stats = item_excess(ratings, L.PUSH)
    a, b = ratings.item_index("a"), ratings.item_index("b")
    # log-concave bound for a: (15 + 1)^2 / (12 + 1) = 19.7 > 10: no excess.
    assert stats.loc[a, "expected_histogram"] == pytest.approx(16**2 / 13)
    assert stats.loc[a, "excess"] == 0.0 and stats.loc[a, "llr"] == 0.0
    assert stats.loc[b, "expected_raters"] < stats.loc[b, "expected_histogram"]
    assert stats.loc[b, "excess"] == pytest.approx(40 - 16**2 / 13)
    expected = 16**2 / 13
    assert stats.loc[b, "llr"] == pytest.approx(40 * np.log(40 / expected) - (40 - expected))
    assert item_excess(ratings, L.NUKE)["llr"].max() == 0.0


def test_fraudar_peel_finds_planted_block_under_camouflage():
    rng = np.random.default_rng(0)
    num_rows, num_cols = 300, 200
    rows = rng.integers(0, num_rows, 1500)
    cols = rng.integers(0, num_cols, 1500)
    fraud_rows, fraud_cols = np.arange(20), np.arange(190, 200)
    block = np.array([(r, c) for r in fraud_rows for c in fraud_cols])
    # Camouflage: each fraudster also rates popular columns 0..9.
    camo = np.array([(r, c) for r in fraud_rows for c in rng.choice(10, 2, replace=False)])
    popular = np.array([(r, c) for r in range(20, 300) for c in rng.choice(10, 2, replace=False)])
    rows = np.concatenate([rows, block[:, 0], camo[:, 0], popular[:, 0]])
    cols = np.concatenate([cols, block[:, 1], camo[:, 1], popular[:, 1]])
    pairs = np.unique(np.stack([rows, cols], 1), axis=0)
    degree = np.bincount(pairs[:, 1], minlength=num_cols)
    weights = 1.0 / np.log(degree[pairs[:, 1]] + 5.0)
    row_mask, col_mask, density = fraudar_peel(
        pairs[:, 0], pairs[:, 1], weights, num_rows, num_cols
    )
    found_rows, found_cols = set(np.flatnonzero(row_mask)), set(np.flatnonzero(col_mask))
    assert len(found_rows & set(fraud_rows)) / len(fraud_rows) >= 0.9
    assert len(found_rows & set(fraud_rows)) / len(found_rows) >= 0.9
    # The 1/log(degree + c) weights leave the camouflaged popular columns out.
    assert found_cols == set(fraud_cols)
    inside = row_mask[pairs[:, 0]] & col_mask[pairs[:, 1]]
    assert density == pytest.approx(weights[inside].sum() / (row_mask.sum() + col_mask.sum()))
    with pytest.raises(ValueError, match="positive"):
        fraudar_peel(np.array([0]), np.array([0]), np.array([0.0]), 1, 1)


# ------------------------------------------------------------------------------------ detection
@pytest.fixture(scope="module")
def attacked() -> tuple[Ratings, Injected]:
    clean = movielens_like()
    return clean, inject(clean, ATTACK, seed=3)


def test_bombing_and_push_groups_recovered_with_time(attacked):
    clean, injected = attacked
    report = detect_groups(injected.ratings)
    assert list(report.groups.columns) == list(GROUP_COLUMNS)

    bombers, bombed = campaign(injected, L.REVIEW_BOMBING)
    precision, recall, row = best_match(report, bombers, bombed)
    assert precision >= 0.8 and recall >= 0.8
    assert row["method"] == LOCKSTEP and row["direction"] == L.NUKE
    assert row["window_end"] - row["window_start"] <= BombingConfig().window_seconds
    assert str(injected.ratings.item_ids[bombed]) in row["target_ids"]

    pushers, pushed = campaign(injected, L.SHILLING_PUSH)
    precision, recall, row = best_match(report, pushers, pushed)
    assert precision >= 0.8 and recall >= 0.8
    assert row["method"] == DENSE_BLOCK and row["direction"] == L.PUSH
    assert pd.isna(row["window_start"])

    assert not top_popular(injected.ratings) & set(report.target_items().tolist())
    # The membership score ranks campaign accounts above the genuine ones.
    labels = injected.accounts["label"].to_numpy()
    assert report.membership[labels == 1].mean() > 0.5 > report.membership[labels == 0].mean()
    assert set(report.members()["group"]) == set(report.groups["group"])


def test_push_group_recovered_without_timestamps(attacked):
    _, injected = attacked
    report = detect_groups(without_time(injected.ratings))
    assert (report.groups["method"] == DENSE_BLOCK).all()
    pushers, pushed = campaign(injected, L.SHILLING_PUSH)
    precision, recall, _ = best_match(report, pushers, pushed)
    assert precision >= 0.8 and recall >= 0.8
    assert not top_popular(injected.ratings) & set(report.target_items().tolist())
    with pytest.raises(ValueError, match="no timestamps"):
        detect_groups(without_time(injected.ratings), GroupConfig(use_time=True))


def test_clean_data_has_no_groups_and_detector_contract(attacked):
    clean, injected = attacked
    assert detect_groups(clean).groups.empty
    detector = GroupDetector().fit(injected.ratings)
    flags = detector.predict(injected.ratings)
    assert flags.shape == (injected.ratings.num_users,) and detector.threshold_ == 0.5
    labels = injected.accounts["label"].to_numpy()
    assert labels[flags == 1].mean() >= 0.8 and flags[labels == 1].mean() >= 0.8
    np.testing.assert_allclose(
        detector.decision_score_, detector.decision_function(injected.ratings)
    )


def test_campaign_inputs_point_at_the_campaigns(attacked):
    clean, injected = attacked
    ratings = injected.ratings
    out = campaign_features(ratings, AccountEvents.from_ratings(ratings), with_time=True)
    np.testing.assert_allclose(out["group_score"], detect_groups(ratings).membership)
    pushers, pushed = campaign(injected, L.SHILLING_PUSH)
    labels = injected.accounts["label"].to_numpy()
    genuine = np.flatnonzero(labels == 0)
    # every pusher rated the target at the maximum: its suspicion is their target_llr
    push_llr = item_excess(ratings, L.PUSH)["llr"].to_numpy()[pushed]
    np.testing.assert_allclose(out["target_llr"][sorted(pushers)], np.log1p(push_llr))
    assert out["target_llr"][sorted(pushers)].min() > np.quantile(out["target_llr"][genuine], 0.9)
    # an account with no rating at either end of the scale has no target suspicion
    values = ratings.events.groupby("user")["rating"].agg(["min", "max"])
    middle = values.index[(values["min"] > 1) & (values["max"] < 5)].to_numpy()
    assert len(middle) and (out["target_llr"][middle] == 0).all()
    assert not campaign_features(clean, AccountEvents.from_ratings(clean), True)[
        "group_score"
    ].any()


def test_ml100k_push_and_bombing(ml100k_path):
    from graphrec.data.load import load_ratings

    ratings = load_ratings(ml100k_path)
    injected = inject(
        ratings,
        InjectionConfig(
            shilling=(ShillingAttack(L.PUSH, L.AVERAGE, attack_size=0.05, filler_size=0.03),),
            bombing=BombingConfig(num_groups=1, group_size=15),
        ),
        seed=0,
    )
    start = time.perf_counter()
    report = detect_groups(injected.ratings)
    assert time.perf_counter() - start < 10.0
    for kind in (L.REVIEW_BOMBING, L.SHILLING_PUSH):
        members, target = campaign(injected, kind)
        precision, recall, _ = best_match(report, members, target)
        assert precision >= 0.8 and recall >= 0.8, kind
    assert not top_popular(injected.ratings) & set(report.target_items().tolist())


def test_config_validation():
    with pytest.raises(ValueError, match="min_group_size"):
        GroupConfig(min_group_size=1)
    with pytest.raises(ValueError, match="column_c"):
        GroupConfig(column_c=1.0)
    with pytest.raises(ValueError, match="direction"):
        item_excess(movielens_like(num_users=20, num_items=20), "sideways")
