"""The literature's further attack families: each does what its parameters say, labels agree."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score
from test_inject import of_type, synthetic

from graphrec.anomaly import labels as L
from graphrec.anomaly.inject import (
    FULL_TYPES,
    IN_DEGREE,
    NUM_RATINGS,
    InjectionConfig,
    LoveHateConfig,
    MixedConfig,
    Obfuscation,
    PowerItemConfig,
    PowerUserConfig,
    ReverseBandwagonConfig,
    RingConfig,
    ShillingAttack,
    full_config,
    inject,
    power_items,
    power_users,
    step2_config,
    without_types,
)
from graphrec.anomaly.inject.power import knn_in_degree
from graphrec.data.load import load_ratings
from graphrec.data.ratings import Ratings


@pytest.fixture(scope="module")
def base() -> Ratings:
    return synthetic()


def per_fake_roles(ev: pd.DataFrame) -> pd.DataFrame:
    return ev.groupby("user")["role"].value_counts().unstack(fill_value=0)


def copy_sources(res, ev: pd.DataFrame, base: Ratings) -> dict[int, tuple[int, float]]:
    """Each fake's best-matching genuine profile (Jaccard of items) and the share it copied."""
    profiles = base.events.groupby("user")["item"].apply(frozenset)
    out = {}
    for user, mine in ev[ev["role"] == L.COPIED].groupby("user"):
        copied = frozenset(mine["item"])
        jaccard = profiles.map(lambda p, c=copied: len(c & p) / len(c | p))
        source = int(jaccard.idxmax())
        assert copied <= profiles[source]  # copied items come from one real profile
        # ... with that person's own ratings.
        theirs = base.events[base.events["user"] == source].set_index("item")["rating"]
        assert np.array_equal(mine["rating"].to_numpy(), theirs[mine["item"]].to_numpy())
        out[int(user)] = (source, len(copied) / len(profiles[source]))
    return out


def test_love_hate_fillers_max_target_min(base: Ratings) -> None:
    res = inject(base, InjectionConfig(love_hate=LoveHateConfig(0.05, filler_size=0.1)), seed=0)
    acc, ev = of_type(res, L.LOVE_HATE)
    assert len(acc) == round(0.05 * base.num_users) == 15
    assert (acc["model"] == L.LOVE_HATE).all() and acc["user_id"].str.startswith("fake_").all()
    assert (ev["label"] == 1).all() and set(ev["role"]) == {L.TARGET, L.FILLER}
    assert (ev.loc[ev["role"] == L.FILLER, "rating"] == 5.0).all()
    assert (ev.loc[ev["role"] == L.TARGET, "rating"] == 1.0).all()
    roles = per_fake_roles(ev)
    assert (roles[L.TARGET] == 1).all()
    assert abs(roles[L.FILLER].mean() - 0.1 * base.num_items) <= 0.2 * 0.1 * base.num_items
    assert list(res.targets["type"]) == [L.LOVE_HATE] and (res.targets["direction"] == L.NUKE).all()


def test_reverse_bandwagon_selects_disliked_items_at_min(base: Ratings) -> None:
    cfg = ReverseBandwagonConfig(attack_size=0.05, filler_size=0.1, num_selected=3)
    res = inject(base, InjectionConfig(reverse_bandwagon=cfg), seed=1)
    acc, ev = of_type(res, L.REVERSE_BANDWAGON)
    roles = per_fake_roles(ev)
    assert len(acc) == 15 and (roles[L.SELECTED] == 3).all() and (roles[L.TARGET] == 1).all()
    assert abs(roles[L.FILLER].mean() - 0.1 * base.num_items) <= 0.2 * 0.1 * base.num_items
    selected = ev[ev["role"] == L.SELECTED]
    assert (selected["rating"] == 1.0).all()
    assert (ev.loc[ev["role"] == L.TARGET, "rating"] == 1.0).all()
    # "Unpopular": the most disliked of the items many users rated (Mobasher et al. 2007).
    stats = base.events.groupby("item")["rating"].agg(["mean", "size"])
    widely_rated = stats[stats["size"] >= stats["size"].median()]
    assert set(selected["item"]) <= set(widely_rated["mean"].nsmallest(9).index)
    # Fillers from the global distribution: their mean is the global mean.
    fill = ev.loc[ev["role"] == L.FILLER, "rating"]
    assert abs(fill.mean() - base.events["rating"].mean()) < 0.25


@pytest.mark.parametrize("selection", [IN_DEGREE, NUM_RATINGS])
def test_power_user_copies_the_top_power_users(base: Ratings, selection: str) -> None:
    cfg = PowerUserConfig(attack_size=0.03, selection=selection, match_lengths=False)
    res = inject(base, InjectionConfig(power_user=cfg), seed=2)
    acc, ev = of_type(res, L.POWER_USER)
    assert len(acc) == 9 and (acc["model"] == selection).all()
    assert set(ev["role"]) == {L.COPIED, L.TARGET}
    assert (ev.loc[ev["role"] == L.TARGET, "rating"] == 5.0).all()
    sources = copy_sources(res, ev, base)
    assert {s for s, _ in sources.values()} == set(power_users(base, selection)[:9])
    assert all(0.8 <= share <= 0.95 for _, share in sources.values())  # near-duplicates


def test_power_user_lengths_follow_genuine_ones(base: Ratings) -> None:
    res = inject(base, InjectionConfig(power_user=PowerUserConfig(L.NUKE, 0.1)), seed=3)
    acc, ev = of_type(res, L.POWER_USER)
    sources = copy_sources(res, ev, base)
    assert len(acc) == 30 and len({s for s, _ in sources.values()}) == 30
    assert all(0.8 <= share <= 0.95 for _, share in sources.values())
    assert (ev.loc[ev["role"] == L.TARGET, "rating"] == 1.0).all()
    lengths = res.events.groupby("user").size()
    genuine = lengths[res.accounts["label"].to_numpy() == 0]
    assert ks_2samp(lengths[acc["user"]], genuine).statistic < 0.25
    # Each source is the most influential of the users of about its length: above the median.
    rank = np.argsort(power_users(base, IN_DEGREE))
    assert np.median(rank[[s for s, _ in sources.values()]]) < 0.3 * base.num_users


def test_power_item_profiles_are_power_items(base: Ratings) -> None:
    cfg = PowerItemConfig(attack_size=0.05, pool_share=0.1, filler_size=0.1)
    res = inject(base, InjectionConfig(power_item=cfg), seed=4)
    acc, ev = of_type(res, L.POWER_ITEM)
    assert len(acc) == 15 and set(ev["role"]) == {L.SELECTED, L.TARGET}
    roles = per_fake_roles(ev)
    assert abs(roles[L.SELECTED].mean() - 0.1 * base.num_items) <= 0.2 * 0.1 * base.num_items
    assert (ev.loc[ev["role"] == L.TARGET, "rating"] == 5.0).all()
    ranked = power_items(base, NUM_RATINGS)
    head = int(np.ceil(0.1 * len(ranked)))
    for _, mine in ev[ev["role"] == L.SELECTED].groupby("user"):
        assert set(mine["item"]) <= set(ranked[: max(head, len(mine)) + 1])
    # Rated as genuine users rate them: every vote is one of the item's real ratings.
    real = set(zip(base.events["item"], base.events["rating"], strict=True))
    selected = ev[ev["role"] == L.SELECTED]
    assert set(zip(selected["item"], selected["rating"], strict=True)) <= real


def test_knn_in_degree_counts_hub() -> None:
    vectors = sp.csr_matrix(np.vstack([np.ones(3), np.eye(3)]))  # a hub and three loners
    degree = knn_in_degree(vectors, 1)
    assert degree[0] == 3 and degree.sum() == 4  # everyone's nearest is the hub


def test_noise_injection_spreads_love_hate_fillers(base: Ratings) -> None:
    cfg = LoveHateConfig(attack_size=0.1, obfuscation=Obfuscation(noise_sd=1.0))
    res = inject(base, InjectionConfig(love_hate=cfg), seed=5)
    _, ev = of_type(res, L.LOVE_HATE)
    fill = ev.loc[ev["role"] == L.FILLER, "rating"]
    assert set(fill) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert 0.2 < (fill < 5).mean() < 0.45  # P(N(0, 1) < -0.5) = 0.31, rounded and clipped at 5
    assert (ev.loc[ev["role"] == L.TARGET, "rating"] == 1.0).all()


def test_user_shift_moves_whole_profiles(base: Ratings) -> None:
    cfg = LoveHateConfig(attack_size=0.1, obfuscation=Obfuscation(user_shift_sd=1.0))
    res = inject(base, InjectionConfig(love_hate=cfg), seed=6)
    _, ev = of_type(res, L.LOVE_HATE)
    per_profile = ev[ev["role"] == L.FILLER].groupby("user")["rating"]
    assert (per_profile.nunique() == 1).all()  # one shift per profile
    assert per_profile.first().nunique() > 1 and (per_profile.first() == 5.0).any()


@pytest.mark.parametrize(("direction", "shifted"), [(L.PUSH, 4.0), (L.NUKE, 2.0)])
def test_target_shift_and_aop(base: Ratings, direction: str, shifted: float) -> None:
    obfuscation = Obfuscation(target_shift=1.0, aop_share=0.2)
    attack = ShillingAttack(direction, L.RANDOM, 0.05, filler_size=0.05, obfuscation=obfuscation)
    res = inject(base, InjectionConfig(shilling=(attack,)), seed=7)
    _, ev = of_type(res, L.SHILLING_PUSH if direction == L.PUSH else L.SHILLING_NUKE)
    assert (ev.loc[ev["role"] == L.TARGET, "rating"] == shifted).all()
    popular = base.events["item"].value_counts().index[: int(np.ceil(0.2 * base.num_items))]
    assert set(ev.loc[ev["role"] == L.FILLER, "item"]) <= set(popular)


def test_mixed_campaign_draws_from_several_models(base: Ratings) -> None:
    models = (L.AVERAGE, L.LOVE_HATE, L.REVERSE_BANDWAGON, L.POWER_ITEM)
    cfg = MixedConfig(direction=L.NUKE, models=models, attack_size=0.08, filler_size=0.1)
    res = inject(base, InjectionConfig(mixed=cfg), seed=8)
    acc, ev = of_type(res, L.MIXED_SHILLING)
    assert len(acc) == 24 and (acc["model"].value_counts() == 6).all()
    assert set(acc["model"]) == set(models)
    # Fillers (a power-item profile's power items play their part) follow the filler size.
    fill = ev[(ev["role"] == L.FILLER) | ((ev["model"] == L.POWER_ITEM) & (ev["role"] != L.TARGET))]
    assert abs(fill.groupby("user").size().mean() - 15) <= 3
    targets = ev[ev["role"] == L.TARGET]
    assert targets["item"].nunique() == 1 and targets["user"].nunique() == 24
    assert (targets["rating"] == 1.0).all()
    lovers = ev[ev["model"] == L.LOVE_HATE]
    assert (lovers.loc[lovers["role"] == L.FILLER, "rating"] == 5.0).all()
    assert set(ev.loc[ev["model"] == L.REVERSE_BANDWAGON, "role"]) == {
        L.TARGET,
        L.SELECTED,
        L.FILLER,
    }


@pytest.mark.parametrize(("direction", "value"), [(L.NUKE, 1.0), (L.PUSH, 5.0)])
def test_ring_members_copy_distinct_profiles_and_share_a_target(
    base: Ratings, direction: str, value: float
) -> None:
    cfg = RingConfig(size=0.05, num_groups=2, direction=direction)
    res = inject(base, InjectionConfig(ring=cfg), seed=9)
    acc, ev = of_type(res, L.COORDINATED_RING)
    assert len(acc) == 15 and set(ev["role"]) == {L.COPIED, L.TARGET}
    sources = copy_sources(res, ev, base)
    assert len({s for s, _ in sources.values()}) == 15  # a different genuine profile each
    assert all(0.45 <= share <= 0.8 for _, share in sources.values())
    targets = ev[ev["role"] == L.TARGET]
    assert (targets["rating"] == value).all() and targets.groupby("user").size().eq(1).all()
    assert targets.groupby("item")["user"].nunique().sort_values().tolist() == [7, 8]
    counts = base.events["item"].value_counts()
    assert all(counts[t] >= counts.quantile(0.85) for t in targets["item"].unique())  # popular


def test_lockstep_window_groups_target_ratings(base: Ratings) -> None:
    cfg = InjectionConfig(
        love_hate=LoveHateConfig(0.05, window_seconds=3600),
        ring=RingConfig(0.05, window_seconds=3600),
    )
    res = inject(base, cfg, seed=10)
    for kind in (L.LOVE_HATE, L.COORDINATED_RING):
        _, ev = of_type(res, kind)
        hits = ev.loc[ev["role"] == L.TARGET, "timestamp"]
        assert hits.max() - hits.min() <= 3600
        assert ev["timestamp"].max() - ev["timestamp"].min() > 86400  # the rest keeps its rhythm


def test_full_config_injects_every_type(base: Ratings) -> None:
    res = inject(base, full_config(), seed=0)
    assert set(FULL_TYPES) == set(L.ANOMALY_TYPES)
    assert set(res.accounts["type"]) == {L.NORMAL, *FULL_TYPES}
    L.validate_labels(res.accounts, res.events)
    fakes = res.accounts[res.accounts["type"].isin(L.LITERATURE_TYPES)]
    assert fakes["user_id"].str.startswith("fake_").all()
    assert (res.events.loc[res.events["user"].isin(fakes["user"]), "label"] == 1).all()


def test_without_types_switches_off_exactly_those_families(base: Ratings) -> None:
    dropped = {L.SHILLING_PUSH, L.COORDINATED_RING, L.ACCOUNT_SHARING}
    res = inject(base, without_types(full_config(), dropped), seed=0)
    assert set(res.accounts["type"]) == {L.NORMAL, *(set(FULL_TYPES) - dropped)}
    kept = without_types(full_config(), dropped).shilling
    assert kept and all(a.direction == L.NUKE for a in kept)
    with pytest.raises(ValueError, match="unknown anomaly types"):
        without_types(full_config(), {"shiling_push"})


def test_full_config_rate_on_ml100k(ml100k_path: Path) -> None:
    res = inject(load_ratings(ml100k_path), full_config(), seed=0)
    assert 0.10 <= res.accounts["label"].mean() <= 0.12
    per_type = res.accounts["type"].value_counts()
    assert set(per_type.index) == {L.NORMAL, *FULL_TYPES} and per_type.min() >= 7


def test_fakes_look_genuine_on_ml100k(ml100k_path: Path) -> None:
    """Length alone never separates a family; ring members are genuine in every per-account
    statistic (only the group gives them away)."""
    families = dict(
        love_hate=LoveHateConfig(0.03),
        reverse_bandwagon=ReverseBandwagonConfig(0.03),
        power_user=PowerUserConfig(attack_size=0.03),
        power_item=PowerItemConfig(attack_size=0.03),
        mixed=MixedConfig(attack_size=0.03),
        ring=RingConfig(size=0.05, num_groups=2),
    )
    res = inject(load_ratings(ml100k_path), InjectionConfig(**families), seed=0)
    ev = res.events
    deviation = (ev["rating"] - ev.groupby("item")["rating"].transform("mean")).abs()
    popularity = ev.groupby("item")["user"].transform("size")
    per_user = pd.DataFrame({"r": ev["rating"], "dev": deviation, "pop": popularity}).groupby(
        ev["user"]
    )
    features = pd.DataFrame(
        {
            "length": per_user.size(),
            "mean_rating": per_user["r"].mean(),
            "rating_sd": per_user["r"].std().fillna(0.0),
            "deviation": per_user["dev"].mean(),
            "popularity": per_user["pop"].mean(),
        }
    )
    types = res.accounts["type"].to_numpy()
    genuine = types == L.NORMAL
    for kind in L.LITERATURE_TYPES:
        mask = genuine | (types == kind)
        for column in features if kind == L.COORDINATED_RING else ["length"]:
            auc = roc_auc_score(types[mask] == kind, features[column].to_numpy()[mask])
            assert max(auc, 1 - auc) < 0.65, (kind, column, auc)


def test_without_timestamps_and_deterministic() -> None:
    plain = synthetic(num_users=200, timestamps=False)
    a, b = inject(plain, full_config(), seed=1), inject(plain, full_config(), seed=1)
    assert not a.ratings.has_timestamps
    L.validate_labels(a.accounts, a.events)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.accounts, b.accounts)


def test_new_families_leave_the_others_unchanged(base: Ratings) -> None:
    alone = inject(base, step2_config(), seed=4)
    full = full_config()
    more = dataclasses.replace(
        step2_config(),
        love_hate=full.love_hate,
        power_user=full.power_user,
        mixed=full.mixed,
        ring=full.ring,
    )
    both = inject(base, more, seed=4)
    old = [L.NORMAL, *L.STEP1_TYPES, *L.STEP2_ONLY_TYPES]
    part = [
        x.events[x.events["type"].isin(old[1:])].sort_values(["timestamp", "item", "rating"])
        for x in (alone, both)
    ]
    columns = ["item", "rating", "timestamp", "type", "role"]
    assert np.array_equal(part[0][columns].to_numpy(), part[1][columns].to_numpy())


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: Obfuscation(noise_sd=-1.0), "noise_sd"),
        (lambda: Obfuscation(aop_share=0.0), "aop_share"),
        (lambda: LoveHateConfig(attack_size=2.0), "attack_size"),
        (lambda: LoveHateConfig(window_seconds=0), "window_seconds"),
        (lambda: ReverseBandwagonConfig(num_selected=0), "num_selected"),
        (lambda: PowerUserConfig(selection="pagerank"), "selection"),
        (lambda: PowerUserConfig(obfuscation=Obfuscation(aop_share=0.2)), "aop_share"),
        (lambda: PowerItemConfig(pool_share=0.0), "pool_share"),
        (lambda: MixedConfig(models=(L.AVERAGE,)), "models"),
        (lambda: MixedConfig(models=(L.AVERAGE, "love")), "models"),
        (lambda: MixedConfig(models=(L.AVERAGE, L.LOVE_HATE)), "nuke"),
        (lambda: RingConfig(copy_share=(0.9, 0.5)), "copy_share"),
        (lambda: RingConfig(targets=("1", "2")), "targets"),
        (lambda: RingConfig(direction="sideways"), "direction"),
    ],
)
def test_family_config_validation(factory, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()
