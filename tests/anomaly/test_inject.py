"""Anomaly injection: each injector does what its parameters say, labels agree, fakes look real."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from graphrec.anomaly import labels as L
from graphrec.anomaly.inject import (
    BombingConfig,
    BotConfig,
    HijackConfig,
    InjectionConfig,
    ObfuscatedConfig,
    SamplingConfig,
    SharingConfig,
    ShillingAttack,
    ViewingConfig,
    inject,
    step1_config,
    step2_config,
)
from graphrec.data.ratings import Ratings, from_raw_events

GENRES = ("Action", "Comedy", "Drama", "Horror", "Romance")


def synthetic(
    num_users: int = 300, num_items: int = 150, seed: int = 0, timestamps: bool = True
) -> Ratings:
    """MovieLens-like: Zipf popularity, heavy-tailed lengths, user and item biases, sessions."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, num_items + 1) ** 0.8
    pop /= pop.sum()
    quality = rng.normal(3.5, 0.6, num_items)
    rows = []
    for u in range(num_users):
        n = int(np.clip(rng.lognormal(3.0, 0.7), 5, num_items // 2))
        items = rng.choice(num_items, size=n, replace=False, p=pop)
        bias = rng.normal(0, 0.5)
        ratings = np.clip(np.rint(quality[items] + bias + rng.normal(0, 0.8, n)), 1, 5)
        start = rng.integers(0, 200 * 86400)
        gaps = np.where(rng.random(n) < 0.9, rng.integers(5, 300, n), rng.integers(1, 20) * 86400)
        times = start + np.cumsum(gaps)
        rows += [(f"{u + 1}", f"i{i}", r, t) for i, r, t in zip(items, ratings, times, strict=True)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    if not timestamps:
        frame = frame.drop(columns="timestamp").sample(frac=1.0, random_state=seed)
    items = pd.DataFrame(
        {
            "title": [f"Film {i // 3} {'II' if i % 3 else ''}".strip() for i in range(num_items)],
            "genres": [
                (GENRES[i % 5],) if i % 2 else (GENRES[i % 5], "Drama") for i in range(num_items)
            ],
        },
        index=[f"i{i}" for i in range(num_items)],
    )
    users = pd.DataFrame(
        {"age": rng.integers(18, 70, num_users)}, index=[str(u + 1) for u in range(num_users)]
    )
    return from_raw_events(
        frame, items=items, users=users, name="synthetic", has_timestamps=timestamps
    )


def read_ml100k(path: Path) -> Ratings:
    frame = pd.read_csv(path / "ml-100k.inter", sep="\t")
    frame.columns = ["user_id", "item_id", "rating", "timestamp"]
    return from_raw_events(frame, name="ml-100k")


@pytest.fixture(scope="module")
def base() -> Ratings:
    return synthetic()


def of_type(res, kind: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    acc = res.accounts[res.accounts["type"] == kind]
    ev = res.events[res.events["user"].isin(acc["user"])]
    return acc, ev


@pytest.mark.parametrize("direction", [L.PUSH, L.NUKE])
@pytest.mark.parametrize("model", list(L.SHILLING_MODELS))
def test_shilling_counts_targets_and_labels(base: Ratings, direction: str, model: str) -> None:
    attack = ShillingAttack(direction, model, attack_size=0.05, num_targets=2)
    res = inject(base, InjectionConfig(shilling=(attack,)), seed=3)
    kind = L.SHILLING_PUSH if direction == L.PUSH else L.SHILLING_NUKE
    acc, ev = of_type(res, kind)
    assert len(acc) == round(0.05 * base.num_users) == 15
    assert (acc["model"] == model).all() and acc["user_id"].str.startswith("fake_").all()
    assert (ev["label"] == 1).all()
    targets = res.targets["item"].to_numpy()
    assert len(targets) == 2 and (res.targets["direction"] == direction).all()
    on_target = ev[ev["item"].isin(targets)]
    assert len(on_target) == 2 * len(acc)  # every fake rates every target once
    assert (on_target["role"] == L.TARGET).all()
    assert (on_target["rating"] == (5.0 if direction == L.PUSH else 1.0)).all()
    # Targets come from the mid/low popularity band, not the head.
    counts = base.events["item"].value_counts()
    assert all(
        counts.get(base.item_index(t), 0) <= counts.quantile(0.7) for t in res.targets["item_id"]
    )
    assert res.ratings.num_users == base.num_users + len(acc)


def test_filler_size_sets_mean_filler_count(base: Ratings) -> None:
    attack = ShillingAttack(L.PUSH, L.BANDWAGON, attack_size=0.1, filler_size=0.1, num_selected=4)
    res = inject(base, InjectionConfig(shilling=(attack,)), seed=0)
    _, ev = of_type(res, L.SHILLING_PUSH)
    per_fake = ev.groupby("user")["role"].value_counts().unstack(fill_value=0)
    expected = round(0.1 * base.num_items)
    assert abs(per_fake[L.FILLER].mean() - expected) <= 0.2 * expected
    assert (per_fake[L.SELECTED] == 4).all()
    # Bandwagon: selected items are among the most popular and rated max.
    counts = base.events["item"].value_counts()
    selected = ev[ev["role"] == L.SELECTED]
    assert (selected["rating"] == 5.0).all()
    assert set(selected["item"]) <= set(counts.index[:12])


def test_segment_selects_target_genre_and_min_fillers(base: Ratings) -> None:
    res = inject(base, InjectionConfig(shilling=(ShillingAttack(L.PUSH, L.SEGMENT, 0.05),)), seed=1)
    _, ev = of_type(res, L.SHILLING_PUSH)
    target_genres = set(res.ratings.items["genres"].iat[int(res.targets["item"].iat[0])])
    for item in ev.loc[ev["role"] == L.SELECTED, "item"].unique():
        assert target_genres & set(res.ratings.items["genres"].iat[int(item)])
    assert (ev.loc[ev["role"] == L.FILLER, "rating"] == 1.0).all()


def test_fake_profiles_look_genuine_on_ml100k(ml100k_path: Path) -> None:
    real = read_ml100k(ml100k_path)
    attack = ShillingAttack(L.PUSH, L.AVERAGE, attack_size=0.1)
    res = inject(real, InjectionConfig(shilling=(attack,)), seed=0)
    lengths = res.events.groupby("user").size()
    fake = lengths[res.accounts["label"].to_numpy() == 1]
    genuine = lengths[res.accounts["label"].to_numpy() == 0]
    assert ks_2samp(fake, genuine).statistic < 0.3
    assert abs(fake.mean() / genuine.mean() - 1) < 0.25
    # Timestamps inside the real span; filler ratings keep the real rating distribution.
    ev = res.events[res.events["label"] == 1]
    assert (
        ev["timestamp"]
        .between(real.events["timestamp"].min(), real.events["timestamp"].max())
        .all()
    )
    fill = ev.loc[ev["role"] == L.FILLER, "rating"]
    assert abs(fill.mean() - real.events["rating"].mean()) < 0.25
    # Fillers imitate how popular real users' items are (mean item degree within 25 %).
    degree = np.bincount(real.events["item"], minlength=real.num_items)
    fillers = ev[ev["role"] == L.FILLER]
    fake_pop = pd.Series(degree[fillers["item"]]).groupby(fillers["user"].to_numpy()).mean()
    real_pop = pd.Series(degree[real.events["item"]]).groupby(real.events["user"].to_numpy()).mean()
    assert abs(fake_pop.mean() / real_pop.mean() - 1) < 0.25


def test_review_bombing_within_window_at_minimum(base: Ratings) -> None:
    cfg = BombingConfig(
        num_groups=2, group_size=10, series_size=3, window_seconds=3 * 3600, hijacked_share=0.3
    )
    res = inject(base, InjectionConfig(bombing=cfg), seed=2)
    acc, ev = of_type(res, L.REVIEW_BOMBING)
    assert len(acc) == 20
    assert (acc["user_id"].str.startswith("fake_")).sum() == 14  # 3 hijacked real users per group
    bombs = ev[ev["role"] == L.TARGET]
    assert (bombs["rating"] == 1.0).all()
    assert len(res.targets) == 6 and (res.targets["direction"] == L.NUKE).all()
    for _, group in res.targets.groupby(res.targets.index // 3):
        hits = bombs[bombs["item"].isin(group["item"])]
        assert hits["user"].nunique() == 10 and len(hits) == 30
        assert hits["timestamp"].max() - hits["timestamp"].min() <= 3 * 3600
    # New accounts also carry other, plausible activity; hijacked users keep their own history.
    cover = ev[ev["role"] == L.FILLER]
    assert cover["user"].nunique() == 14 and cover["rating"].nunique() > 1
    genuine = ev[ev["label"] == 0]
    assert genuine["user"].nunique() == 6


def test_account_sharing_merges_two_or_three_people(base: Ratings) -> None:
    res = inject(base, InjectionConfig(sharing=SharingConfig(size=0.05)), seed=4)
    acc, _ = of_type(res, L.ACCOUNT_SHARING)
    assert len(acc) == 15
    members = acc["source"].str.split(";")
    assert members.map(len).between(2, 3).all()
    guests = {g for m in members for g in m[1:]}
    assert not guests & set(res.ratings.user_ids)  # merged people are not counted twice
    assert res.ratings.num_users == base.num_users - len(guests)
    for user_id, people in zip(acc["user_id"], members, strict=True):
        mine = res.events[res.events["user"] == res.ratings.user_index(user_id)]
        source_items = set()
        for person in people:
            source_items |= set(
                base.events.loc[base.events["user"] == base.user_index(person), "item"]
            )
        assert set(mine["item"]) == source_items  # union of the people's items, once each
        owner = mine[mine["role"] == L.GENUINE]
        assert (owner["label"] == 0).all() and (
            mine.loc[mine["role"] == L.GUEST, "label"] == 1
        ).all()
        first_guest = mine.loc[mine["role"] == L.GUEST, "timestamp"].min()
        assert owner["timestamp"].min() <= first_guest <= owner["timestamp"].max()  # interleaved


def test_bots_constant_or_pattern(base: Ratings) -> None:
    res = inject(
        base, InjectionConfig(bots=BotConfig(size=0.05, pattern_share=0.5, min_items=25)), seed=5
    )
    acc, ev = of_type(res, L.BOT_CONSISTENCY)
    assert len(acc) == 15 and set(acc["model"]) == {"constant", "pattern"}
    for user, model in zip(acc["user"], acc["model"], strict=True):
        seq = (
            ev.loc[ev["user"] == user].sort_values("timestamp", kind="stable")["rating"].to_numpy()
        )
        assert len(seq) >= 25
        if model == "constant":
            assert len(np.unique(seq)) == 1
        else:
            period = next(p for p in range(2, 5) if np.array_equal(seq[p:], seq[:-p]))
            assert len(np.unique(seq[:period])) >= 2


def test_injecting_into_injected_data_names_new_accounts_afresh(base: Ratings) -> None:
    # Simulated attacks are planted into data that may hold accounts this injector named; a new
    # account must not take an existing id (it silently merged into that account before).
    config = InjectionConfig(bots=BotConfig(size=0.05))
    once = inject(base, config, seed=5)
    twice = inject(once.ratings, config, seed=6)
    old_ids = set(once.accounts["user_id"].astype(str))
    new_bots = of_type(twice, L.BOT_CONSISTENCY)[0]
    assert len(new_bots) > 0 and not set(new_bots["user_id"].astype(str)) & old_ids
    assert len(twice.accounts) == len(once.accounts) + len(new_bots)


def test_abnormal_viewing_bursts_and_repeats(base: Ratings) -> None:
    cfg = ViewingConfig(size=0.03, bursts=(1, 2), burst_events=(20, 30), burst_seconds=600)
    res = inject(base, InjectionConfig(viewing=cfg), seed=6)
    acc, ev = of_type(res, L.ABNORMAL_VIEWING)
    assert len(acc) == 9 and not acc["user_id"].str.startswith("fake_").any()
    for user in acc["user"]:
        mine = ev[ev["user"] == user]
        burst = np.sort(mine.loc[mine["role"] == L.BURST, "timestamp"].to_numpy())
        in_window = np.searchsorted(burst, burst + 600, side="right") - np.arange(len(burst))
        assert in_window.max() >= 20  # >= 20 events inside 10 minutes
        repeats = mine[mine["role"] == L.REPEAT]
        assert len(repeats) >= 2
        assert set(repeats["item"]) <= set(mine.loc[mine["role"] == L.GENUINE, "item"])
        assert (mine["item"].value_counts() >= 3).any()


def test_step2_types(base: Ratings) -> None:
    cfg = InjectionConfig(
        obfuscated=ObfuscatedConfig(attack_size=0.05),
        hijacked=HijackConfig(size=0.05, direction=L.NUKE, takeover_share=0.3, min_events=20),
        sampling=SamplingConfig(attack_size=0.05, keep_share=0.8),
    )
    res = inject(base, cfg, seed=7)
    _, ob = of_type(res, L.OBFUSCATED_SHILLING)
    assert (ob.loc[ob["role"] == L.TARGET, "rating"] == 4.0).all()  # target shift: max - 1
    acc, hj = of_type(res, L.HIJACKED)
    assert len(acc) == 15
    for user in acc["user"]:
        mine = hj[hj["user"] == user].sort_values("timestamp", kind="stable")
        share = mine["label"].mean()
        assert 0.2 < share < 0.4
        assert (
            mine.loc[mine["label"] == 0, "timestamp"].max()
            <= mine.loc[mine["label"] == 1, "timestamp"].min()
        )
        assert (mine.loc[mine["role"] == L.TARGET, "rating"] == 1.0).all()
    acc, sa = of_type(res, L.SAMPLING)
    base_items = base.events.groupby("user")["item"].apply(frozenset)
    for user in acc["user"]:
        copied = frozenset(sa.loc[(sa["user"] == user) & (sa["role"] == L.COPIED), "item"])
        assert any(copied <= items for items in base_items)  # a near-copy of one real profile


def test_labels_consistent_and_aligned(base: Ratings) -> None:
    res = inject(base, step2_config(), seed=8)
    L.validate_labels(res.accounts, res.events)
    assert list(res.accounts["user"]) == list(range(res.ratings.num_users))
    assert list(res.accounts["user_id"]) == list(res.ratings.user_ids)
    pd.testing.assert_frame_equal(
        res.events[["user", "item", "rating", "timestamp"]], res.ratings.events
    )
    assert set(res.accounts["type"]) == {L.NORMAL, *L.STEP1_TYPES, *L.STEP2_ONLY_TYPES}
    # Metadata: items kept, fake accounts get a real user's demographics (no NaN giveaway).
    assert res.ratings.num_items == base.num_items
    assert res.ratings.items["title"].tolist() == base.items["title"].tolist()
    assert res.ratings.users["age"].notna().all()
    summary = res.summary()
    assert summary.loc[L.NORMAL, "anomalous_events"] == 0


def test_step1_config_rate_and_types(base: Ratings) -> None:
    res = inject(base, step1_config(), seed=0)
    assert set(res.accounts["type"]) == {L.NORMAL, *L.STEP1_TYPES}
    assert 0.04 < res.accounts["label"].mean() < 0.12


def test_deterministic_and_independent_streams(base: Ratings) -> None:
    cfg = step2_config()
    a, b = inject(base, cfg, seed=11), inject(base, cfg, seed=11)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.accounts, b.accounts)
    c = inject(base, cfg, seed=12)
    assert not a.events["rating"].equals(c.events["rating"]) or len(a.events) != len(c.events)
    # Turning bots on does not change what the shilling attack produced.
    attack = (ShillingAttack(L.PUSH, L.AVERAGE, 0.05),)
    alone = inject(base, InjectionConfig(shilling=attack), seed=1)
    both = inject(base, InjectionConfig(shilling=attack, bots=BotConfig(0.05)), seed=1)
    part = [
        x.events[x.events["type"] == L.SHILLING_PUSH].sort_values(["timestamp", "item"])
        for x in (alone, both)
    ]
    assert np.array_equal(
        part[0][["item", "rating", "timestamp"]].to_numpy(),
        part[1][["item", "rating", "timestamp"]].to_numpy(),
    )


def test_without_timestamps() -> None:
    plain = synthetic(num_users=200, timestamps=False)
    res = inject(plain, step2_config(), seed=0)
    assert not res.ratings.has_timestamps
    assert np.array_equal(res.ratings.events["timestamp"], np.arange(res.ratings.num_events))
    L.validate_labels(res.accounts, res.events)


def test_anonymized_ids_leak_nothing(base: Ratings) -> None:
    res = inject(base, InjectionConfig(bots=BotConfig(0.05), anonymize_ids=True), seed=0)
    assert all(u.isdigit() for u in res.ratings.user_ids)
    fakes = res.accounts[res.accounts["label"] == 1]
    assert fakes["source"].str.startswith("fake_").all()
    assert fakes["user"].min() < res.ratings.num_users - len(fakes)  # not all sorted last


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: ShillingAttack(direction="up"), "direction"),
        (lambda: ShillingAttack(model="love"), "model"),
        (lambda: ShillingAttack(attack_size=1.5), "attack_size"),
        (lambda: SharingConfig(people=(1, 3)), "people"),
        (lambda: BombingConfig(window_seconds=0), "window_seconds"),
        (lambda: HijackConfig(takeover_share=1.0), "takeover_share"),
        (lambda: InjectionConfig(target_popularity=(0.8, 0.2)), "target_popularity"),
    ],
)
def test_config_validation(factory, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()
