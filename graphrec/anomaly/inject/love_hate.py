"""Love/hate attack (Mobasher et al. 2007): fillers at the maximum rating, the target at the
minimum — a nuke attack that needs no knowledge of the data beyond its rating scale."""

from __future__ import annotations

import numpy as np

from graphrec.anomaly.attack_models import Profile, RatingStats, extreme, sample_items
from graphrec.anomaly.inject.family_options import LoveHateConfig
from graphrec.anomaly.inject.shilling import run_campaign
from graphrec.anomaly.inject.state import State
from graphrec.anomaly.labels import FILLER, LOVE_HATE, NUKE, TARGET


def build_love_hate_profile(
    stats: RatingStats,
    rng: np.random.Generator,
    *,
    targets: np.ndarray,
    num_filler: int,
    by_popularity: bool = True,
    like: np.ndarray | None = None,
    filler_pool: np.ndarray | None = None,
) -> Profile:
    """Targets at min, ``num_filler`` fillers at max; filler items chosen like a real user's
    (``like``), or uniformly from ``filler_pool`` under AoP."""
    targets = np.asarray(targets, dtype=np.int64)
    fillers = sample_items(
        stats,
        rng,
        num_filler,
        exclude=targets,
        pool=filler_pool,
        by_popularity=by_popularity and filler_pool is None,
        like=like,
    )
    return Profile(
        items=np.concatenate([targets, fillers]),
        ratings=np.concatenate(
            [np.full(len(targets), extreme(stats, NUKE)), np.full(len(fillers), stats.r_max)]
        ),
        roles=np.array([TARGET] * len(targets) + [FILLER] * len(fillers), dtype=object),
    )


def inject_love_hate(state: State, cfg: LoveHateConfig, rng: np.random.Generator) -> None:
    """A love/hate nuke campaign."""

    def build(
        rng: np.random.Generator,
        model: str,
        targets: np.ndarray,
        num_filler: int,
        like: np.ndarray,
        pool: np.ndarray | None,
    ) -> Profile:
        return build_love_hate_profile(
            state.stats,
            rng,
            targets=targets,
            num_filler=num_filler,
            by_popularity=state.config.filler_by_popularity,
            like=like,
            filler_pool=pool,
        )

    run_campaign(state, rng, cfg, kind=LOVE_HATE, direction=NUKE, models=(LOVE_HATE,), build=build)
