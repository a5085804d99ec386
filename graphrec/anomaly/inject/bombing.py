"""Review bombing: groups of new and hijacked real accounts rating one title or a series of
related titles (same franchise, else same genres) at the minimum inside a window of hours; the
new accounts carry plausible cover activity.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from graphrec.anomaly.attack_models import (
    extreme,
    filler_ratings,
    sample_items,
    sample_lengths,
    sample_times,
)
from graphrec.anomaly.inject.options import (
    BombingConfig,
)
from graphrec.anomaly.inject.state import State
from graphrec.anomaly.labels import (
    FILLER,
    NUKE,
    REVIEW_BOMBING,
    TARGET,
)

_TITLE_NOISE = frozenset("the a an of and in on to for with part ii iii iv v vi".split())


def _franchise_key(title: str) -> str:
    """First two content words of a title, without year, subtitle, article or sequel number."""
    t = re.sub(r"\(.*?\)", "", title.lower()).split(":")[0]
    t = re.sub(r",\s*(the|a|an)\s*$", "", t.strip())
    words = [w for w in re.findall(r"[a-z']+", t) if w not in _TITLE_NOISE]
    return " ".join(words[:2])


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(len(a | b), 1)


def _bombing_series(state: State, rng: np.random.Generator, size: int) -> np.ndarray:
    """A well-known seed item and, for a series, its franchise (else its closest genre mates)."""
    stats = state.stats
    band = state.popularity_band((0.5, 0.98))
    if len(band) == 0:
        band = state.choose_targets(rng, 1, ())
    if size == 1:
        return np.array([rng.choice(band)], dtype=np.int64)
    rated = np.flatnonzero(stats.item_count > 0)
    rated = rated[~np.isin(rated, list(state.used_targets))]
    keys = pd.Series([_franchise_key(stats.item_titles[i]) for i in rated], index=rated)
    keys = keys[keys != ""]
    sizes = keys.map(keys.value_counts())
    franchise_seeds = [i for i in band if i in sizes.index and sizes[i] >= size]
    if franchise_seeds:
        seed = int(rng.choice(franchise_seeds))
        mates = keys.index[(keys == keys[seed]).to_numpy()].to_numpy()
    else:
        seed = int(rng.choice(band))
        genres = set(stats.item_genres[seed])
        jaccard = np.array([_jaccard(genres, set(stats.item_genres[i])) for i in rated])
        order = np.lexsort((-stats.item_count[rated], -jaccard))
        mates = rated[order]
    mates = mates[mates != seed]
    mates = mates[np.argsort(-stats.item_count[mates], kind="stable")][: size - 1]
    return np.sort(np.concatenate([[seed], mates]).astype(np.int64))


def inject_bombing(state: State, cfg: BombingConfig, rng: np.random.Generator) -> None:
    """Per group: a series, a window, hijacked members and new accounts with cover."""
    stats = state.stats
    low = extreme(stats, NUKE)
    items_col = state.ratings.events["item"].to_numpy()
    users_col = state.ratings.events["user"].to_numpy()
    for _ in range(cfg.num_groups):
        series = _bombing_series(state, rng, cfg.series_size)
        state.add_targets(series, REVIEW_BOMBING, "", NUKE)
        w0 = int(rng.integers(stats.t_min, max(stats.t_min, stats.t_max - cfg.window_seconds) + 1))
        w1 = min(w0 + cfg.window_seconds, stats.t_max)
        n_real = int(round(cfg.hijacked_share * cfg.group_size))
        rated_series = np.zeros(state.ratings.num_users, dtype=bool)
        rated_series[users_col[np.isin(items_col, series)]] = True
        members = [
            state.mark(int(u), REVIEW_BOMBING)
            for u in state.take_users(rng, n_real, eligible=~rated_series)
        ]
        new = [
            state.new_account(REVIEW_BOMBING, "", rng) for _ in range(cfg.group_size - len(members))
        ]
        cover_lengths = sample_lengths(stats, rng, len(new))
        for name, length in zip(new, cover_lengths, strict=True):
            items = sample_items(
                stats,
                rng,
                int(length),
                exclude=series,
                by_popularity=state.config.filler_by_popularity,
                like=stats.items_of(stats.template_user(rng, int(length))),
            )
            times = sample_times(stats, rng, len(items))
            # Align one cover event with the window so the bombing sits inside the activity.
            fits = np.flatnonzero(
                (times - times[0] <= w0 - stats.t_min) & (times[-1] - times <= stats.t_max - w0)
            )
            if len(fits):
                times = times - times[int(rng.choice(fits))] + w0
            state.add(
                name,
                items,
                filler_ratings(stats, rng, items, per_item=True),
                times,
                REVIEW_BOMBING,
                "",
                FILLER,
            )
        for name in members + new:
            times = np.sort(rng.integers(w0, w1 + 1, size=len(series)))
            state.add(name, series, np.full(len(series), low), times, REVIEW_BOMBING, "", TARGET)
