"""Abnormal viewing: real users given bursts of many events within minutes and repeated events
on the same items."""

from __future__ import annotations

import numpy as np

from graphrec.anomaly.attack_models import (
    filler_ratings,
    sample_items,
)
from graphrec.anomaly.inject.options import (
    ViewingConfig,
)
from graphrec.anomaly.inject.state import State
from graphrec.anomaly.labels import (
    ABNORMAL_VIEWING,
    BURST,
    REPEAT,
)


def inject_viewing(state: State, cfg: ViewingConfig, rng: np.random.Generator) -> None:
    """Give ``size × genuine`` real users bursts of new events and repeats of old ones."""
    stats = state.stats
    ratings_col = state.ratings.events["rating"].to_numpy(np.float64)
    for user in state.take_users(rng, state.count(cfg.size)):
        raw = state.mark(int(user), ABNORMAL_VIEWING)
        rows = state.rows_of(int(user))
        first, last = int(state.time[rows[0]]), int(state.time[rows[-1]])
        seen = state.items_of(int(user))
        starts = []
        for _ in range(int(rng.integers(cfg.bursts[0], cfg.bursts[1] + 1))):
            size = int(rng.integers(cfg.burst_events[0], cfg.burst_events[1] + 1))
            start = int(rng.integers(first, max(first, last - cfg.burst_seconds) + 1))
            starts.append(start)
            items = sample_items(
                stats,
                rng,
                size,
                exclude=seen,
                by_popularity=state.config.filler_by_popularity,
                like=state.items_of(int(user)),
            )
            seen = np.concatenate([seen, items])
            times = np.sort(start + rng.integers(0, cfg.burst_seconds + 1, size=len(items)))
            state.add(
                raw,
                items,
                filler_ratings(stats, rng, items, per_item=True),
                times,
                ABNORMAL_VIEWING,
                "",
                BURST,
            )
        n_rep = min(int(rng.integers(cfg.repeated_items[0], cfg.repeated_items[1] + 1)), len(rows))
        for row in rng.choice(rows, size=n_rep, replace=False):
            k = int(rng.integers(cfg.repeats[0], cfg.repeats[1] + 1))
            start = int(rng.choice(starts))
            times = np.sort(start + rng.integers(0, cfg.burst_seconds + 1, size=k))
            item = state.ratings.events["item"].iat[int(row)]
            state.add(
                raw,
                np.full(k, item),
                np.full(k, ratings_col[row]),
                times,
                ABNORMAL_VIEWING,
                "",
                REPEAT,
            )
