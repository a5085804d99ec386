"""Hijacked real accounts (step 2): the last share of their events, by time, is replaced by a
push/nuke campaign at the same times, so the account's rhythm does not change."""

from __future__ import annotations

import numpy as np

from graphrec.anomaly.attack_models import (
    extreme,
    filler_ratings,
    sample_items,
)
from graphrec.anomaly.inject.options import (
    HijackConfig,
)
from graphrec.anomaly.inject.state import State
from graphrec.anomaly.labels import (
    AVERAGE,
    FILLER,
    HIJACKED,
    TARGET,
)


def inject_hijacked(state: State, cfg: HijackConfig, rng: np.random.Generator) -> None:
    """Replace the latest ``takeover_share`` of real accounts' events by a campaign."""
    stats = state.stats
    targets = state.choose_targets(rng, cfg.num_targets, cfg.targets)
    state.add_targets(targets, HIJACKED, AVERAGE, cfg.direction)
    items_col = state.ratings.events["item"].to_numpy()
    users_col = state.ratings.events["user"].to_numpy()
    lengths = np.diff(state.rows_ptr)
    rated_target = np.zeros(state.ratings.num_users, dtype=bool)
    rated_target[users_col[np.isin(items_col, targets)]] = True
    eligible = (lengths >= max(cfg.min_events, len(targets) + 2)) & ~rated_target
    value = extreme(stats, cfg.direction)
    for user in state.take_users(rng, state.count(cfg.size), eligible=eligible):
        raw = state.mark(int(user), HIJACKED, AVERAGE)
        rows = state.rows_of(int(user))
        n_take = max(int(round(cfg.takeover_share * len(rows))), len(targets) + 1)
        kept, taken = rows[:-n_take], rows[-n_take:]
        state.keep[taken] = False
        # The campaign reuses the removed events' times: the account's rhythm does not change.
        fillers = sample_items(
            stats,
            rng,
            n_take - len(targets),
            exclude=np.concatenate([items_col[kept], targets]),
            by_popularity=state.config.filler_by_popularity,
            like=items_col[taken],
        )
        items = np.concatenate([targets, fillers])
        values = np.concatenate(
            [np.full(len(targets), value), filler_ratings(stats, rng, fillers, per_item=True)]
        )
        roles = np.array([TARGET] * len(targets) + [FILLER] * len(fillers), dtype=object)
        order = rng.permutation(len(items))
        times = state.time[taken][: len(items)]
        state.add(raw, items[order], values[order], times, HIJACKED, AVERAGE, roles[order])
