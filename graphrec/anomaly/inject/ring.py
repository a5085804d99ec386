"""Coordinated rings: accounts that each look like a real user and together move one item.

Every member copies part of a different genuine profile, so per-account evidence sees a
plausible user; only the group — partial copies of distinct people, all rating one item at the
extreme — is anomalous. This is the design an external evaluation found our detectors missed.
"""

from __future__ import annotations

import logging

import numpy as np

from graphrec.anomaly.attack_models import sample_lengths
from graphrec.anomaly.inject.copying import add_copy
from graphrec.anomaly.inject.family_options import RingConfig
from graphrec.anomaly.inject.shilling import campaign_window
from graphrec.anomaly.inject.state import State
from graphrec.anomaly.labels import COORDINATED_RING

log = logging.getLogger(__name__)


def _ring_source(
    lengths: np.ndarray,
    free: np.ndarray,
    length: int,
    share: tuple[float, float],
    rng: np.random.Generator,
) -> int:
    """An unused user from whom ``length`` events are a share in ``share`` of the profile; else
    the nearest longer one; else the longest left."""
    lo, hi = share
    candidates = np.flatnonzero(free & (lengths * lo <= length) & (lengths * hi >= length))
    if len(candidates):
        return int(rng.choice(candidates))
    longer = np.flatnonzero(free & (lengths * hi >= length))
    if len(longer):
        return int(longer[np.argmin(lengths[longer])])
    left = np.flatnonzero(free)
    return int(left[np.argmax(lengths[left])])


def inject_ring(state: State, cfg: RingConfig, rng: np.random.Generator) -> None:
    """``num_groups`` rings of copiers; members' lengths follow the genuine distribution."""
    n = state.count(cfg.size)
    if n == 0:
        log.warning("ring size %s gives no member", cfg.size)
        return
    lengths = np.diff(state.rows_ptr)
    free = lengths > 0  # sources not yet copied by a member
    items_col = state.ratings.events["item"].to_numpy()
    for g, members in enumerate(np.array_split(np.arange(n), cfg.num_groups)):
        if len(members) == 0 or not free.any():
            continue
        given = (cfg.targets[g],) if cfg.targets else ()
        target = state.choose_targets(rng, 1, given, cfg.target_popularity)
        state.add_targets(target, COORDINATED_RING, cfg.direction, cfg.direction)
        window = campaign_window(state.stats, rng, cfg.window_seconds)
        for length in sample_lengths(state.stats, rng, len(members)):
            if not free.any():
                log.warning("ran out of distinct genuine profiles to copy")
                break
            source = _ring_source(lengths, free, int(length), cfg.copy_share, rng)
            free[source] = False
            rows = state.rows_of(source)
            rows = rows[items_col[rows] != target[0]]
            if len(rows) == 0:
                continue
            k = min(int(length), max(1, int(np.floor(cfg.copy_share[1] * len(rows)))))
            rows = rows[np.sort(rng.choice(len(rows), size=k, replace=False))]
            name = state.new_account(COORDINATED_RING, cfg.direction, rng)
            add_copy(
                state,
                rng,
                name,
                rows,
                target,
                direction=cfg.direction,
                kind=COORDINATED_RING,
                model=cfg.direction,
                window=window,
            )
